/**
 * Directory listings as of a past position, without reading a directory's whole history.
 * Two kinds of rows, both only ever added:
 *
 *   tree-dirlog:   [n u32 BE][dir (history.ts keyBytes of its inode key)] -> [name, id | null, ...]: the names
 *                  entry n changed and the node each took (null: freed), one row per directory
 *                  and entry; keyed position first, so an entry's rows are written at the end
 *                  of the tree (append mode: full pages) and a rewind drops a range
 *   tree-listings: `${dir}\0${n as 12 digits}\0${count}` -> [name, id, name, id, ...] after entry n,
 *                  (dir: the directory's inode key, inode-table.ts keyOf)
 *                  in name order (noted as created rows in the undo log)
 *
 * Both values are written compactly (row-codec.ts nameListCodec: ids as 16 bytes).
 *
 * Every entry that changes a directory's names changes its node record too (its times), so
 * the positions of its dirlog rows are among the changes of its record (history.ts): those
 * are read point by point. A listing is written when the
 * changes since the directory's last listing reach max(LISTING_EVERY, LISTING_PER_NAME times the size of that
 * listing), so the rows cost O(1) per change and `ls --at P` reads one listing and at most
 * that many changes after it. The rule reads only stored rows, so a rebuild writes the same
 * listings as the entries applied one by one.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { NodeId } from '../log/index.js';
import { CachedDb, EntryRowsDb } from './cached-db.js';
import { appendPending, compareKeys, countRangeRead, dropAfter, keyBytes, keyOfBytes, pad, POSITION_DIGITS, rowKey, type Rewindable } from './history.js';
import type { Dirent } from './rows.js';
import { nameListCodec, plainEncoder } from './row-codec.js';
import type { UndoLog } from './undo-log.js';
import { idKeyOptions } from './key-codec.js';

/** The fewest changes between two listings of a directory. */
export const LISTING_EVERY = 256;
/**
 * A listing of a big directory is written after four times its size in changes: listings were a
 * third of the directory rows of the 1M-event bench (4.5 MiB at once its size, 3.9 at twice),
 * and the changes after one are read as a few rows per entry (an entry's changes to one
 * directory are one row).
 */
export const LISTING_PER_NAME = 4;

/** Directories whose counts are kept between batches (a cache: past it, it starts again). */
const STATE_DIRS = 4096;

interface DirState {
  /** The position of the directory's last listing (0: none), and how many entries it holds. */
  since: number;
  size: number;
  /** Names changed (counted once per entry) after `since`, up to the position being applied. */
  changes: number;
  /** The last position at which the directory changed. */
  lastN: number;
}

export class DirListings implements Rewindable {
  /** The dirlog rows: written by `#entry` when an entry is sealed, read point by point. */
  readonly #log: Database<Array<string | null>, Buffer>;
  /** The dirlog of the entry being applied, written when it is sealed; a batch abandoned or a rewind voids what it pends. */
  readonly #entry: EntryRowsDb;
  /**
   * The changes of the entry being applied, by directory, each with where each name sits in
   * its row (an import puts thousands of names into one directory in one entry: a scan of
   * the row at each name would make that quadratic).
   */
  readonly #pending = new Map<NodeId, { row: Array<string | null>; at: Map<string, number> }>();
  readonly #listings: CachedDb<Array<string | null>, string>;
  /**
   * What each directory changed lately has since its last listing: kept across batches (one
   * mount operation is one batch, and counting a directory's rows since its listing costs up
   * to max(256, four times its size) row reads), at most STATE_DIRS of them. Forgotten when the rows it
   * was counted from change around it: a batch abandoned (an aborted transaction, a clear)
   * or a rewind (the projection set discards the dirlog's overlay, or tells it to forget
   * what it knew, then).
   */
  readonly #state = new Map<NodeId, DirState>();
  /**
   * The states the batch being applied changed, as they were before it (null: it had none), to
   * put back should it be abandoned. A mount operation's entry that needs a range read is
   * abandoned and applied again (held-writes.ts): forgetting every directory's state then made
   * the next change of each other directory count its rows again, itself a range read, and so
   * abandoned in its turn.
   */
  readonly #before = new Map<NodeId, DirState | null>();
  #inBatch = false;
  readonly #position: () => number;
  readonly #current: (dir: NodeId) => Iterable<Dirent>;
  /** Every position at which the directory's node record changed, oldest first (a superset of its dirlog rows' positions). */
  readonly #changesOf: (dir: NodeId) => number[];

  /** The key of a directory's rows (its inode number: inode-table.ts keyOf); every directory that has names has one. */
  readonly #keyOf: (dir: NodeId) => string | undefined;

  constructor(env: RootDatabase, undo: UndoLog, position: () => number, current: (dir: NodeId) => Iterable<Dirent>, changesOf: (dir: NodeId) => number[], keyOf: (dir: NodeId) => string | undefined) {
    this.#keyOf = keyOf;
    const encoder = { encoder: plainEncoder(nameListCodec) };
    this.#log = env.openDB({ name: 'tree-dirlog', keyEncoding: 'binary', ...encoder });
    const reset = (): void => {
      this.#pending.clear();
      this.#state.clear();
      this.#before.clear();
      this.#inBatch = false;
    };
    this.#entry = new EntryRowsDb(this.#log, {
      begin: () => {
        this.#before.clear();
        this.#inBatch = true;
      },
      seal: (n) => this.#seal(n),
      end: () => {
        this.#before.clear();
        this.#inBatch = false;
      },
      // A batch abandoned: the states it changed are put back as they were before it (the
      // rows they were counted from are back too); the others hold. Outside a batch (a clear of
      // every row), everything is forgotten.
      discard: () => (this.#inBatch ? this.#restore() : reset()),
      forgetEmpty: reset,
    });
    this.#listings = new CachedDb(env.openDB({ name: 'tree-listings', ...idKeyOptions, ...encoder }), null, { log: undo, name: 'tree-listings', kind: 'c' });
    undo.register(this);
    this.#position = position;
    this.#current = current;
    this.#changesOf = changesOf;
  }

  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#entry as unknown as CachedDb<never, never>, this.#listings as unknown as CachedDb<never, never>];
  }

  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['tree-dirlog', this.#log as Database<unknown, Key>], ['tree-listings', this.#listings.db as Database<unknown, Key>]];
  }

  /** Notes that name `name` of directory `dir` now holds `id` (null: it was freed); call before changing the row. */
  changed(dir: NodeId, name: string, id: NodeId | null): void {
    const n = this.#position();
    let s = this.#state.get(dir);
    if (this.#inBatch && !this.#before.has(dir)) this.#before.set(dir, s === undefined ? null : { ...s });
    if (s === undefined) {
      if (this.#state.size >= STATE_DIRS) this.#forgetStates();
      s = this.#count(dir, n);
      this.#state.set(dir, s);
    }
    if (s.lastN < n) {
      // The first change of the directory in entry n: its rows still say how it was after n - 1.
      if (s.changes >= Math.max(LISTING_EVERY, LISTING_PER_NAME * s.size) && s.since < n - 1) {
        const flat: string[] = [];
        for (const e of this.#current(dir)) flat.push(e.name, e.id);
        this.#listings.put(`${this.#key(dir)}\0${pad(n - 1)}\0${flat.length / 2}`, flat);
        s.since = n - 1;
        s.size = flat.length / 2;
        s.changes = 0;
      }
      s.lastN = n;
    }
    let open = this.#pending.get(dir);
    if (open === undefined) this.#pending.set(dir, (open = { row: [], at: new Map() }));
    const at = open.at.get(name);
    if (at === undefined) {
      open.at.set(name, open.row.length);
      open.row.push(name, id);
      s.changes++;
    } else open.row[at + 1] = id;
  }

  /**
   * Directory `dir` was just made (it had no record before this entry, so it has no rows of
   * names yet): its state is known without counting its rows, a range read (which a mount
   * operation's entry cannot make with its rows held: it would be applied again).
   */
  made(dir: NodeId): void {
    if (this.#state.has(dir)) return;
    if (this.#inBatch && !this.#before.has(dir)) this.#before.set(dir, null);
    if (this.#state.size >= STATE_DIRS) this.#forgetStates();
    this.#state.set(dir, { since: 0, size: 0, changes: 0, lastN: this.#position() - 1 });
  }

  /** Puts back the states the abandoned batch changed. */
  #restore(): void {
    this.#pending.clear();
    for (const [dir, before] of this.#before) {
      if (before === null) this.#state.delete(dir);
      else this.#state.set(dir, before);
    }
    this.#before.clear();
    this.#inBatch = false;
  }

  /** The cache of states is full: it starts again, but keeps what the batch being applied needs to put back. */
  #forgetStates(): void {
    this.#state.clear();
    for (const dir of this.#before.keys()) this.#before.set(dir, null);
  }

  /** The entry at n is applied: its directories' rows go to the end of the tree, in key order. */
  #seal(n: number): void {
    if (this.#pending.size === 0) return;
    const rows = new Map<string, { key: Buffer; value: Array<string | null> }>();
    for (const [dir, { row }] of this.#pending) {
      const key = rowKey(n, keyBytes(this.#key(dir)));
      rows.set(key.toString('latin1'), { key, value: row });
    }
    appendPending(this.#log, rows);
    this.#pending.clear();
  }

  /** The dirlog rows of `dir` at its changes in (from, to], oldest first. */
  *#rows(dir: NodeId, from: number, to: number): Generator<Array<string | null>> {
    const kb = keyBytes(this.#key(dir));
    const key = Buffer.allocUnsafe(4 + kb.length);
    key.set(kb, 4);
    for (const m of this.#changesOf(dir)) {
      if (m <= from) continue;
      if (m > to) return;
      key.writeUInt32BE(m, 0);
      const row = this.#log.get(key);
      if (row !== undefined) yield row;
    }
  }

  /** The state of a directory not yet seen in this batch, from its rows (all before position n). */
  #count(dir: NodeId, n: number): DirState {
    let since = 0;
    let size = 0;
    const dk = this.#key(dir);
    for (const key of this.#listings.getKeys({ start: `${dk}\x01`, end: `${dk}\0`, reverse: true, limit: 1 })) {
      const at = parseListingKey(dk, key as string);
      since = at.n;
      size = at.size;
    }
    let changes = 0;
    for (const row of this.#rows(dir, since, n - 1)) changes += row.length / 2;
    return { since, size, changes, lastN: n - 1 };
  }

  /** The entries of directory `dir` after entry p, in name order. */
  childrenAt(dir: NodeId, p: number): Dirent[] {
    const dk = this.#keyOf(dir);
    if (dk === undefined) return [];
    countRangeRead(this.#log);
    const names = new Map<NodeId, NodeId>();
    let since = 0;
    let sorted: Dirent[] | null = null;
    for (const { key, value } of this.#listings.getRange({ start: `${dk}\0${pad(p)}\x01`, end: `${dk}\0`, reverse: true, limit: 1 })) {
      since = parseListingKey(dk, key).n;
      sorted = [];
      for (let i = 0; i + 1 < value.length; i += 2) {
        names.set(value[i]!, value[i + 1]!);
        sorted.push({ name: value[i]!, id: value[i + 1]! });
      }
    }
    let tail = 0;
    for (const value of this.#rows(dir, since, p)) {
      for (let i = 0; i + 1 < value.length; i += 2) {
        const id = value[i + 1];
        if (id === null || id === undefined) names.delete(value[i]!);
        else names.set(value[i]!, id);
      }
      tail++;
    }
    if (tail === 0 && sorted !== null) return sorted;
    return [...names.keys()].sort(compareKeys).map((name) => ({ name, id: names.get(name)! }));
  }

  /** A directory's key: it has names, so it was created, so it has a number. */
  #key(dir: NodeId): string {
    const key = this.#keyOf(dir);
    if (key === undefined) throw new Error(`directory ${dir} has no inode number`);
    return key;
  }

  /** Every row, keys named through `translate` (node ids: digests), in an order that does not depend on inode numbers. */
  digestRows(translate: (key: string) => string): { dirlog: Array<readonly unknown[]>; listings: Array<readonly unknown[]> } {
    const dirlog: Array<readonly [number, string, unknown]> = [];
    for (const { key, value } of this.#log.getRange()) dirlog.push([key.readUInt32BE(0), translate(keyOfBytes(key, 4)), value]);
    dirlog.sort((a, b) => (a[0] !== b[0] ? a[0] - b[0] : compareKeys(a[1], b[1])));
    const listings: Array<readonly [string, unknown]> = [];
    for (const { key, value } of this.#listings.getRange()) listings.push([translate(key), value]);
    listings.sort((a, b) => compareKeys(a[0], b[0]));
    return { dirlog, listings };
  }

  /** Drops the dirlog rows after position n0 (inside a write transaction). */
  rewind(n0: number): void {
    this.#state.clear();
    dropAfter(this.#log as Database<unknown, Buffer>, n0);
  }
}


function parseListingKey(dir: string, key: string): { n: number; size: number } {
  const at = dir.length + 1;
  return { n: Number(key.slice(at, at + POSITION_DIGITS)), size: Number(key.slice(at + POSITION_DIGITS + 1)) };
}
