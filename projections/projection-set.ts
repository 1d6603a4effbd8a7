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
import { Famfs } from './famfs.js';
import { digestDb, newDigest } from './digest.js';
import { InodeTable } from './inode-table.js';
import { openLmdbEnv } from './lmdb-env.js';
import { ProjectionError } from './projection-error.js';
import type { Projection } from './projection.js';
import { Tree } from './tree.js';
import { Positions } from './positions.js';
import { Xattrs } from './xattrs.js';

/** Bumped whenever the rows' layout changes; older rows are rebuilt from the log. */
export const PROJECTIONS_FORMAT = 2;

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
  readonly famfs: Famfs;
  readonly blockIndex: BlockIndex;
  readonly positions: Positions;
  readonly all: readonly Projection[];
  /** The position of the entry being applied. */
  #n = 0;
  onSkipped: ((s: SkippedEvent) => void) | null = null;

  private constructor(env: RootDatabase) {
    this.env = env;
    this.checkpoint = new Checkpoint(env);
    this.positions = new Positions(env);
    const position = (): number => this.#n;
    this.inodes = new InodeTable(env);
    this.tree = new Tree(env, position);
    this.content = new Content(env, position);
    this.xattrs = new Xattrs(env, position);
    this.famfs = new Famfs(env);
    this.blockIndex = new BlockIndex(env);
    this.all = [this.inodes, this.tree, this.content, this.xattrs, this.famfs];
  }

  /**
   * Opens the projections at `path`. Rows written by another format version are dropped
   * (the log rebuilds them) unless `readOnly`, where that is an error saying what to run.
   */
  static open(path: string, opts: { readOnly?: boolean } = {}): ProjectionSet {
    const set = new ProjectionSet(openLmdbEnv(path, {}));
    const meta = set.env.openDB<number, string>({ name: 'projections-meta' });
    const format = meta.get('format');
    if (format !== PROJECTIONS_FORMAT) {
      const empty = set.checkpoint.all().size === 0;
      if (!empty && opts.readOnly) {
        void set.close();
        throw new ProjectionError('BEHIND', `the projections at ${path} are format ${format ?? 1}, this realize reads format ${PROJECTIONS_FORMAT}: run a command that writes (e.g. \`realize log replay --check\`) to rebuild them`);
      }
      set.clear();
      meta.putSync('format', PROJECTIONS_FORMAT);
    }
    return set;
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
        this.positions.reload();
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
    this.#n = this.positions.next({ feed, seq: entry.seq, hlc: entry.hlc });
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

  /** The head position: how many entries are applied. */
  get head(): number {
    return this.positions.applied;
  }

  /** One digest per projection (hex). Local projections are marked so peers can leave them out. */
  digests(): Array<{ name: string; local: boolean; digest: string }> {
    const parts = [...this.all.map((p) => ({ name: p.name, local: p.local, dbs: p.dbs })), { name: 'positions', local: false, dbs: this.positions.dbs }];
    return parts.map((p) => {
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
      for (const [, db] of this.positions.dbs) db.clearSync();
      this.positions.reset();
    });
  }

  async close(): Promise<void> {
    await this.env.close();
  }
}
