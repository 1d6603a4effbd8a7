/**
 * All projections over one LMDB environment. Entries are applied in one write transaction
 * per batch together with the checkpoint, so rows and checkpoint always agree; an entry at
 * or below a feed's checkpoint is skipped (applying twice changes nothing).
 */
import type { RootDatabase } from 'lmdb';
import { feedName, validateEvent, type Entry, type FsEvent } from '../log/index.js';
import { BlockIndex } from './block-index.js';
import { Checkpoint, type FeedPosition } from './checkpoint.js';
import { Content } from './content.js';
import { digestDb, newDigest } from './digest.js';
import { InodeTable } from './inode-table.js';
import { openLmdbEnv } from './lmdb-env.js';
import { ProjectionError } from './projection-error.js';
import type { Projection } from './projection.js';
import { Tree } from './tree.js';
import { Xattrs } from './xattrs.js';

export interface SkippedEvent {
  readonly feed: string;
  readonly seq: number;
  readonly index: number;
  readonly reason: string;
}

export class ProjectionSet {
  readonly env: RootDatabase;
  readonly checkpoint: Checkpoint;
  readonly inodes: InodeTable;
  readonly tree: Tree;
  readonly content: Content;
  readonly xattrs: Xattrs;
  readonly blockIndex: BlockIndex;
  readonly all: readonly Projection[];
  onSkipped: ((s: SkippedEvent) => void) | null = null;

  private constructor(env: RootDatabase) {
    this.env = env;
    this.checkpoint = new Checkpoint(env);
    this.inodes = new InodeTable(env);
    this.tree = new Tree(env);
    this.content = new Content(env);
    this.xattrs = new Xattrs(env);
    this.blockIndex = new BlockIndex(env);
    this.all = [this.inodes, this.tree, this.content, this.xattrs];
  }

  static open(path: string, opts: { readOnly?: boolean } = {}): ProjectionSet {
    return new ProjectionSet(openLmdbEnv(path, opts));
  }

  position(feed: string): FeedPosition | undefined {
    return this.checkpoint.get(feed);
  }

  /** Applies entries (each feed's in sequence order) in one transaction. Returns how many were new. */
  applyEntries(entries: ReadonlyArray<Entry<unknown>>): number {
    let applied = 0;
    const caches = this.all.flatMap((p) => p.caches);
    this.env.transactionSync(() => {
      for (const c of caches) c.begin();
      try {
        for (const entry of entries) if (this.#applyOne(entry)) applied++;
        for (const c of caches) c.end();
      } catch (err) {
        for (const c of caches) c.discard();
        throw err;
      }
    });
    return applied;
  }

  #applyOne(entry: Entry<unknown>): boolean {
    const feed = feedName(entry);
    const have = this.checkpoint.get(feed)?.length ?? 0;
    if (entry.seq < have) return false;
    if (entry.seq > have) {
      throw new ProjectionError('BEHIND', `projections hold feed ${feed} up to entry ${have - 1}; cannot apply entry ${entry.seq} before the ones between`);
    }
    entry.events.forEach((raw, index) => {
      let event: FsEvent;
      try {
        event = validateEvent(raw);
      } catch (err) {
        this.onSkipped?.({ feed, seq: entry.seq, index, reason: (err as Error).message });
        return;
      }
      const ctx = { entry, feed, index };
      for (const p of this.all) p.apply(event, ctx);
    });
    this.checkpoint.set(feed, { length: entry.seq + 1, hash: entry.hash });
    return true;
  }

  /** One digest per projection (hex). Local projections are marked so peers can leave them out. */
  digests(): Array<{ name: string; local: boolean; digest: string }> {
    return this.all.map((p) => {
      const h = newDigest();
      for (const [name, db] of p.dbs) digestDb(h, name, db);
      return { name: p.name, local: p.local, digest: h.digest('hex') };
    });
  }

  /** Drops every projection row and checkpoint (the block index stays: it is not a projection). */
  clear(): void {
    this.env.transactionSync(() => {
      this.checkpoint.clear();
      for (const p of this.all) for (const c of p.caches) c.discard();
      for (const p of this.all) for (const [, db] of p.dbs) db.clearSync();
    });
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
