/**
 * All projections over one LMDB environment. Entries are applied in one write transaction
 * per batch together with the checkpoint, so rows and checkpoint always agree; an entry at
 * or below a feed's checkpoint is skipped (applying twice changes nothing).
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { feedName, validateEvent, type Entry, type FsEvent } from '../log/index.js';
import { BlockIndex } from './block-index.js';
import { Checkpoint, type FeedPosition } from './checkpoint.js';
import { Content } from './content.js';
import { Famfs } from './famfs.js';
import { digestDb, newDigest } from './digest.js';
import { InodeTable } from './inode-table.js';
import { inodeKeyLength } from './key-codec.js';
import { LMDB_MAP_SIZE, LMDB_MAX_DBS, openLmdbEnv } from './lmdb-env.js';
import { RebuildWriter } from './rebuild-writer.js';
import { ProjectionError } from './projection-error.js';
import type { ApplyContext, Projection } from './projection.js';
import type { CachedDb } from './cached-db.js';
import { Tree } from './tree.js';
import { Positions } from './positions.js';
import { UndoLog } from './undo-log.js';
import { Touches } from './touches.js';
import { ConflictCopies } from './conflict-copies.js';
import { Xattrs } from './xattrs.js';
import { CacheTable, Placements, ServedTable } from './placement.js';
import { HeldRetry, HeldWrites } from './held-writes.js';

/** Held rows of local entries are written this long after the first was held, at the latest. */
export const HOLD_MS = 25;
/** ... or once this many local entries are held ... */
export const HOLD_ENTRIES = 256;
/** ... or once this many rows are (an import's entries are big). */
export const HOLD_ROWS = 50_000;

/** Bumped whenever the rows' layout changes; older rows are rebuilt from the log. */
export const PROJECTIONS_FORMAT = 29;

/** Sub-databases of older formats, dropped when the projections are rebuilt in this one. */
const RETIRED_DBS = ['content-history'];

/** The ApplyContext #applyOne moves from event to event. */
interface MovingContext {
  readonly entry: Entry<unknown>;
  readonly feed: string;
  index: number;
  sub: number | undefined;
}

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
  readonly undo: UndoLog;
  /** Which events of each entry named each node (for `history`). */
  readonly touches: Touches;
  readonly conflicts: ConflictCopies;
  readonly placements: Placements;
  /** This peer's content cache and where its blocks were served (not projections: never digested or cleared). */
  readonly cache: CacheTable;
  readonly served: ServedTable;
  readonly all: readonly Projection[];
  /** The position of the entry being applied. */
  #n = 0;
  /** Every projection's write-back overlays. */
  readonly #caches: ReadonlyArray<CachedDb<never, never>>;
  onSkipped: ((s: SkippedEvent) => void) | null = null;
  /** Rows of local entries not yet written to LMDB (see applyLocal). */
  readonly held: HeldWrites;
  #heldTimer: NodeJS.Timeout | null = null;
  /** The bounds of holding (HOLD_MS, HOLD_ENTRIES): a spec may widen them. */
  holdMs = HOLD_MS;
  holdEntries = HOLD_ENTRIES;
  /** Opened as a scratch place (no cache of decoded rows): a rebuild may write through a thread of its own. */
  readonly #scratch: boolean;

  private constructor(env: RootDatabase, readCache: boolean) {
    this.env = env;
    this.#scratch = !readCache;
    // Not projections, written in their own transactions: never held.
    this.blockIndex = new BlockIndex(env);
    this.cache = new CacheTable(env);
    this.served = new ServedTable(env);
    // Every sub-database the projections open is wrapped, so its writes can be held.
    const held = (this.held = new HeldWrites(env));
    const openDB = env.openDB;
    (env as { openDB: unknown }).openDB = function (this: RootDatabase, ...args: Parameters<RootDatabase['openDB']>) {
      return held.wrap(openDB.apply(env, args));
    };
    try {
      this.checkpoint = new Checkpoint(env);
      this.positions = new Positions(env);
      this.undo = new UndoLog(env);
      this.touches = new Touches(env, this.undo, (id) => this.inodes.inoOf(id));
      const versioning = { position: (): number => this.#n, undo: this.undo, readCache };
      this.inodes = new InodeTable(env);
      const nodeKey = (id: string): string | undefined => this.inodes.keyOf(id);
      this.tree = new Tree(env, versioning, nodeKey);
      this.content = new Content(env, versioning, this.touches.commits, nodeKey, () => this.inodes.keys());
      this.xattrs = new Xattrs(env, versioning);
      this.conflicts = new ConflictCopies(env, versioning, this.tree, this.content, this.positions);
      this.famfs = new Famfs(env);
      this.placements = new Placements(env, versioning);
    } finally {
      (env as { openDB: unknown }).openDB = openDB;
    }
    this.all = [this.inodes, this.tree, this.content, this.xattrs, this.famfs, this.conflicts, this.placements];
    // #applyEvent calls them by name, in this order: change both together.
    this.#caches = [...this.all.flatMap((p) => p.caches), ...this.touches.caches];
  }

  /**
   * Opens the projections at `path`. Rows written by another format version are dropped
   * (the log rebuilds them) unless `readOnly`, where that is an error saying what to run.
   */
  /**
   * `scratch`: a place only rebuilt and digested (replay --check): the current rows are not
   * kept decoded in memory for reads (lmdb-js's cache), which would only cost every write.
   */
  static open(path: string, opts: { readOnly?: boolean; scratch?: boolean } = {}): ProjectionSet {
    let env;
    try {
      env = openLmdbEnv(path, {});
    } catch (err) {
      // A reader on a read-only filesystem: open without locks, never write.
      if (!opts.readOnly) throw err;
      env = openLmdbEnv(path, { readOnly: true });
    }
    const set = new ProjectionSet(env, opts.scratch !== true);
    const meta = set.env.openDB<number, string>({ name: 'projections-meta' });
    const format = meta.get('format');
    if (format !== PROJECTIONS_FORMAT) {
      const empty = set.checkpoint.all().size === 0;
      if (!empty && opts.readOnly) {
        void set.close();
        throw new ProjectionError('BEHIND', `the projections at ${path} are format ${format ?? 1}, this realize reads format ${PROJECTIONS_FORMAT}: run a command that writes (e.g. \`realize log replay --check\`) to rebuild them`);
      }
      set.clear();
      // Sub-databases older formats kept and this one does not: their pages are freed.
      for (const name of RETIRED_DBS) set.env.openDB({ name }).dropSync();
      meta.putSync('format', PROJECTIONS_FORMAT);
    }
    return set;
  }

  position(feed: string): FeedPosition | undefined {
    return this.checkpoint.get(feed);
  }

  /** Applies entries (each feed's in sequence order) in one transaction. Returns how many were new. */
  applyEntries(entries: Iterable<Entry<unknown>>, opts: { rewindTo?: number } = {}): number {
    if (this.held.shipping && opts.rewindTo === undefined) {
      // A scratch rebuild (shipWrites): the rows go to the writer thread, one transaction a batch.
      const applied = this.#applyThrough(entries);
      this.held.ship();
      return applied;
    }
    this.settle('apply');
    let applied = 0;
    const caches = this.#caches;
    this.env.transactionSync(() => {
      if (opts.rewindTo !== undefined && opts.rewindTo < this.positions.applied) {
        if (!this.canRewindTo(opts.rewindTo)) throw new ProjectionError('BEHIND', `cannot rewind to position ${opts.rewindTo}: undo records start at ${this.undo.floor} (rebuild instead)`);
        // The rewind writes rows directly, around the overlays.
        for (const c of caches) c.forgetEmpty();
        this.#rewind(opts.rewindTo);
      }
      applied = this.#applyThrough(entries);
    });
    return applied;
  }

  /**
   * Applies entries through the write-back overlays. Should one fail, what they wrote is
   * discarded (`onFail` runs then, before the positions and checkpoint are read again) and
   * the error goes on.
   */
  #applyThrough(entries: Iterable<Entry<unknown>>, onFail?: (err: unknown) => void): number {
    const caches = this.#caches;
    let applied = 0;
    for (const c of caches) c.begin();
    try {
      for (const entry of entries) if (this.#applyOne(entry)) applied++;
      // Rows shipped to a rebuild's writer (shipWrites): from here on written in order into the
      // batch's shipment (at most one batch left in flight: the overlays keep two readable).
      if (this.held.shipping) this.held.openShipment();
      this.positions.flush();
      this.checkpoint.flush();
      for (const c of caches) c.end();
    } catch (err) {
      for (const c of caches) c.discard();
      this.undo.discard();
      onFail?.(err);
      this.positions.reload();
      this.checkpoint.reload();
      throw err;
    }
    return applied;
  }

  /**
   * Applies entries made by this process (each feed's in sequence order) at once, their rows
   * held in memory (reads in this process see them) and written to LMDB with the next ones
   * (see HOLD_MS). Should an entry need LMDB itself while applied (a range read), its held
   * writes are taken back, the rows held before it written, and it is applied again the
   * ordinary way; should it fail, its writes are taken back as an aborted transaction's are.
   */
  applyLocal(entries: ReadonlyArray<Entry<unknown>>): number {
    const held = this.held;
    let applied: number;
    held.begin();
    try {
      applied = this.#applyThrough(entries, (err) => {
        held.takeBack();
        this.settle(err instanceof HeldRetry ? `retry: ${err.message}` : 'failed');
      });
      held.done(applied);
    } catch (err) {
      if (err instanceof HeldRetry) return this.applyEntries(entries);
      throw err;
    }
    if (held.entries >= this.holdEntries) this.settle('entries');
    else if (held.size >= HOLD_ROWS) this.settle('rows');
    else if (this.#heldTimer === null && held.size > 0) {
      this.#heldTimer = setTimeout(() => {
        this.#heldTimer = null;
        this.settle('time');
      }, this.holdMs);
      this.#heldTimer.unref();
    }
    return applied;
  }

  /** How many local entries have rows held, not yet written to LMDB. */
  get heldEntries(): number {
    return this.held.entries;
  }

  /** Writes the rows held for local entries to LMDB now (one transaction), if there are any. */
  settle(why = 'asked'): void {
    if (this.#heldTimer !== null) {
      clearTimeout(this.#heldTimer);
      this.#heldTimer = null;
    }
    this.held.settle(why);
  }

  #applyOne(entry: Entry<unknown>): boolean {
    const feed = feedName(entry);
    const have = this.checkpoint.get(feed)?.length ?? 0;
    if (entry.seq < have) return false;
    if (entry.seq > have) {
      throw new ProjectionError('BEHIND', `projections hold feed ${feed} up to entry ${have - 1}; cannot apply entry ${entry.seq} before the ones between`);
    }
    this.#n = this.positions.next({ feed, seq: entry.seq, hlc: entry.hlc, hash: entry.hash });
    this.touches.record(entry.events, this.#n);
    const events = entry.events;
    // One context for the entry's events, moved along (no projection keeps it past its apply).
    const ctx: MovingContext = { entry, feed, index: 0, sub: undefined };
    for (let index = 0; index < events.length; index++) {
      let event: FsEvent;
      try {
        event = validateEvent(events[index]);
      } catch (err) {
        this.onSkipped?.({ feed, seq: entry.seq, index, reason: (err as Error).message });
        continue;
      }
      ctx.index = index;
      ctx.sub = undefined;
      const resolved = this.conflicts.resolve(event, ctx);
      if (resolved === null || resolved.length === 1) {
        this.#applyEvent(resolved === null ? event : resolved[0]!, ctx);
        continue;
      }
      for (let sub = 0; sub < resolved.length; sub++) {
        ctx.sub = sub + 1;
        this.#applyEvent(resolved[sub]!, ctx);
      }
    }
    this.checkpoint.stage(feed, { length: entry.seq + 1, hash: entry.hash });
    for (const c of this.#caches) c.seal(this.#n);
    this.undo.seal(this.#n);
    return true;
  }

  /**
   * One event through every projection, in the order of `all`. Called by name, not through `all`: each call site then sees one class (a loop over
   * `all` looked `apply` up on seven, megamorphic, at every event of a rebuild).
   */
  #applyEvent(event: FsEvent, ctx: ApplyContext): void {
    this.inodes.apply(event);
    this.tree.apply(event, ctx);
    this.content.apply(event, ctx);
    this.xattrs.apply(event, ctx);
    this.famfs.apply(event, ctx);
    this.conflicts.apply();
    this.placements.apply(event, ctx);
  }

  /** Every sub-database by name. */
  #dbsByName(): Map<string, Database<unknown, Key>> {
    return new Map([...this.all, this.touches].flatMap((p) => p.dbs.map(([name, db]) => [name, db] as const)));
  }

  /**
   * Puts every row back as it was at position n0 (inside the apply transaction): versioned
   * rows are restored from their history rows after n0, rows the undo log says were created
   * after n0 are dropped, positions and checkpoints are cut back. Inode numbers are local and kept.
   */
  #rewind(n0: number): void {
    const head = this.positions.applied;
    const dbs = this.#dbsByName();
    for (const r of this.undo.rewindables) r.rewind(n0);
    for (const { name, key } of this.undo.changedAfter(n0, head)) {
      const db = dbs.get(name);
      if (db !== undefined) db.removeSync(name === 'content-versions' ? Buffer.from(key, 'hex') : key);
    }
    this.undo.dropAfter(n0, head);
    const dropped = this.positions.truncate(n0);
    const firstDropped = new Map<string, number>();
    for (const row of dropped) firstDropped.set(row.feed, Math.min(row.seq, firstDropped.get(row.feed) ?? Infinity));
    for (const [feed, seq] of firstDropped) {
      const prev = seq > 0 ? this.positions.of(feed, seq - 1) : undefined;
      const row = prev === undefined ? undefined : this.positions.row(prev);
      if (row === undefined) this.checkpoint.remove(feed);
      else this.checkpoint.set(feed, { length: seq, hash: row.hash });
    }
  }

  /** True when the undo records reach back far enough to rewind to position n0. */
  canRewindTo(n0: number): boolean {
    return n0 + 1 >= this.undo.floor;
  }

  /**
   * A scratch place (opened with `scratch`) being rebuilt: each batch's rows are written by a
   * thread of their own (rebuild-writer.ts) while this one applies the next batch. Returns
   * false (nothing changes) for a place that is not scratch. End with endShipping.
   */
  shipWrites(): boolean {
    if (!this.#scratch || this.held.shipping) return false;
    this.settle('ship');
    this.held.shipTo(RebuildWriter.start((this.env as unknown as { path: string }).path, this.held.names(), { maxDbs: LMDB_MAX_DBS, mapSize: LMDB_MAP_SIZE }));
    return true;
  }

  /** Ends shipWrites: every batch written (`ok`), or what was not written yet dropped (a failed rebuild). */
  async endShipping(ok: boolean): Promise<void> {
    const writer = this.held.writer;
    try {
      if (!ok) this.held.forget();
      this.held.stopShipping();
    } finally {
      await writer?.close();
    }
  }

  /** Stops keeping undo records (a scratch rebuild: see undo-log.ts). */
  pauseUndo(): void {
    this.undo.pause();
  }

  /** Keeps undo records again, from the next position on. */
  resumeUndo(): void {
    this.settle('undo');
    this.env.transactionSync(() => this.undo.resume(this.positions.applied + 1));
  }

  /** The head position: how many entries are applied. */
  get head(): number {
    return this.positions.applied;
  }

  /** One digest per projection (hex). Local projections are marked so peers can leave them out. */
  digests(): Array<{ name: string; local: boolean; digest: string }> {
    // The digests read the stored bytes (digest.ts): rows held for local entries are written first.
    this.settle('digest');
    // The touches index is keyed by local inode numbers (touches.ts): local, as the inode table.
    // The tree's and content's rows are keyed by inode number: digested with node ids instead.
    const ids = this.inodes.idsByKey();
    const translate = (key: string): string => {
      const len = inodeKeyLength(key);
      const id = len === 0 ? undefined : ids.get(key.slice(0, len));
      return id === undefined ? key : id + key.slice(len);
    };
    const parts = [...this.all.map((p) => ({ name: p.name, local: p.local, dbs: p.dbs, own: p.digestInto?.bind(p) })), { name: 'positions', local: false, dbs: this.positions.dbs, own: undefined }, { name: 'touches', local: true, dbs: this.touches.dbs, own: undefined }];
    return parts.map((p) => {
      const h = newDigest();
      if (p.own !== undefined) p.own(h, translate, this.env);
      else for (const [name, db] of p.dbs) digestDb(h, this.env, name, db);
      return { name: p.name, local: p.local, digest: h.digest('hex') };
    });
  }

  /** Drops every projection row and checkpoint (the block index stays: it is not a projection). */
  clear(): void {
    // Rows held for entries are dropped with the rest (nothing reads them before the rebuild).
    if (this.#heldTimer !== null) clearTimeout(this.#heldTimer);
    this.#heldTimer = null;
    this.held.forget();
    this.env.transactionSync(() => {
      this.checkpoint.clear();
      this.undo.clear();
      for (const p of [...this.all, this.touches]) for (const c of p.caches) c.discard();
      for (const p of [...this.all, this.touches]) for (const [, db] of p.dbs) db.clearSync();
      for (const [, db] of this.positions.dbs) db.clearSync();
      // Reads may skip LMDB for keys never written since, except in history sub-databases
      // (their rows are written directly by the current rows' overlays).
      const direct = new Set(this.#caches.map((c) => c.historyDb));
      for (const c of this.#caches) if (!direct.has(c.db as Database<unknown, string>)) c.markEmpty();
      this.positions.reset();
    });
  }

  async close(): Promise<void> {
    this.settle('close');
    await this.env.close();
  }
}
