/**
 * How far the projections have applied each feed: feed name -> [length, hash of the last
 * applied entry]. Written in the same transaction as the rows the entry changed, so the
 * rows and the checkpoint can never disagree.
 */
import type { Database, RootDatabase } from 'lmdb';

export interface FeedPosition {
  readonly length: number;
  readonly hash: Uint8Array;
}

export class Checkpoint {
  readonly #db: Database<{ length: number; hash: Uint8Array }, string>;
  constructor(env: RootDatabase) {
    this.#db = env.openDB({ name: 'checkpoint' });
  }
  get(feed: string): FeedPosition | undefined {
    return this.#db.get(feed);
  }
  set(feed: string, pos: FeedPosition): void {
    this.#db.putSync(feed, { length: pos.length, hash: pos.hash });
  }
  all(): Map<string, FeedPosition> {
    const m = new Map<string, FeedPosition>();
    for (const { key, value } of this.#db.getRange()) m.set(key, value);
    return m;
  }
  clear(): void {
    this.#db.clearSync();
  }
}
