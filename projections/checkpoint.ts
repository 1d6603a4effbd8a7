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
  /** The rows, kept in memory too: a store holds few feeds and every apply reads them. */
  #cache = new Map<string, FeedPosition>();

  constructor(env: RootDatabase) {
    this.#db = env.openDB({ name: 'checkpoint' });
    this.reload();
  }
  get(feed: string): FeedPosition | undefined {
    return this.#cache.get(feed);
  }
  /** Rows staged by stage() and not yet written. */
  readonly #staged = new Set<string>();

  set(feed: string, pos: FeedPosition): void {
    const row = { length: pos.length, hash: pos.hash };
    this.#db.putSync(feed, row);
    this.#cache.set(feed, row);
    this.#staged.delete(feed);
  }
  /**
   * Like set, but the row is written by the next flush(), which the caller makes inside the
   * same write transaction (a batch of entries writes each feed's row once, not per entry).
   */
  stage(feed: string, pos: FeedPosition): void {
    this.#cache.set(feed, { length: pos.length, hash: pos.hash });
    this.#staged.add(feed);
  }
  /** Writes the staged rows (inside the write transaction that applied their entries). */
  flush(): void {
    for (const feed of this.#staged) this.#db.putSync(feed, this.#cache.get(feed)!);
    this.#staged.clear();
  }
  remove(feed: string): void {
    this.#db.removeSync(feed);
    this.#cache.delete(feed);
    this.#staged.delete(feed);
  }
  all(): Map<string, FeedPosition> {
    return new Map(this.#cache);
  }
  clear(): void {
    this.#db.clearSync();
    this.#cache.clear();
    this.#staged.clear();
  }
  /** Re-reads the rows (after an aborted transaction): staged rows are dropped. */
  reload(): void {
    this.#staged.clear();
    this.#cache = new Map();
    for (const { key, value } of this.#db.getRange()) this.#cache.set(key, value);
  }
}
