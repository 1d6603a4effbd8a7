/**
 * Directory listings as of a past position, without reading a directory's whole history.
 * Two kinds of rows, both only ever added (a rewind drops those after its position: they are
 * noted as created rows in the undo log):
 *
 *   tree-dirlog:   `${dir}\0${n as 12 digits}` -> [name, id | null, ...]: the names entry n changed and
 *                                                the node each took (null: freed), one row per
 *                                                directory and entry (the key is most of a row)
 *   tree-listings: `${dir}\0${n as 12 digits}\0${count}` -> [name, id, name, id, ...] after entry n,
 *                                                          in name order
 *
 * Both values are written compactly (row-codec.ts nameListCodec: ids as 16 bytes).
 *
 * The dirlog is the directory's changes in position order; a listing is written when the
 * changes since the directory's last listing reach max(LISTING_EVERY, the size of that
 * listing), so the rows cost O(1) per change and `ls --at P` reads one listing and at most
 * that many changes after it. The rule reads only stored rows, so a rebuild writes the same
 * listings as the entries applied one by one.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { NodeId } from '../log/index.js';
import { CachedDb } from './cached-db.js';
import { compareKeys, countRangeRead, pad, POSITION_DIGITS } from './history.js';
import type { Dirent } from './rows.js';
import { nameListCodec, plainEncoder } from './row-codec.js';
import type { UndoLog } from './undo-log.js';
import { idKeyOptions } from './key-codec.js';

/** The fewest changes between two listings of a directory. */
export const LISTING_EVERY = 256;

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

export class DirListings {
  readonly #log: CachedDb<Array<string | null>, string>;
  readonly #listings: CachedDb<Array<string | null>, string>;
  /**
   * What each directory changed lately has since its last listing: kept across batches (one
   * mount operation is one batch, and counting a directory's rows since its listing costs up
   * to max(256, its size) row reads), at most STATE_DIRS of them. Forgotten when the rows it
   * was counted from change around it: a batch abandoned (an aborted transaction, a clear)
   * or a rewind (the projection set discards the dirlog's overlay, or tells it to forget
   * what it knew, then).
   */
  readonly #state = new Map<NodeId, DirState>();
  readonly #position: () => number;
  readonly #current: (dir: NodeId) => Iterable<Dirent>;
  /**
   * The dirlog rows of the entry being applied (position #openN), each with where each name
   * sits in it: an import puts thousands of names into one directory in one entry, and
   * copying and scanning the row at each name made that quadratic. The row is the one in the
   * overlay (or, once flushed, the one written); forgotten with #state.
   */
  readonly #open = new Map<string, { row: Array<string | null>; at: Map<string, number> }>();
  #openN = -1;

  constructor(env: RootDatabase, undo: UndoLog, position: () => number, current: (dir: NodeId) => Iterable<Dirent>) {
    const encoder = { ...idKeyOptions, encoder: plainEncoder(nameListCodec) };
    this.#log = new BatchAwareDb(env.openDB({ name: 'tree-dirlog', ...encoder }), null, { log: undo, name: 'tree-dirlog', kind: 'c' }, () => this.#forget());
    this.#listings = new CachedDb(env.openDB({ name: 'tree-listings', ...encoder }), null, { log: undo, name: 'tree-listings', kind: 'c' });
    this.#position = position;
    this.#current = current;
  }

  #forget(): void {
    this.#state.clear();
    this.#open.clear();
    this.#openN = -1;
  }

  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#log as unknown as CachedDb<never, never>, this.#listings as unknown as CachedDb<never, never>];
  }

  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['tree-dirlog', this.#log.db as Database<unknown, Key>], ['tree-listings', this.#listings.db as Database<unknown, Key>]];
  }

  /** Notes that name `name` of directory `dir` now holds `id` (null: it was freed); call before changing the row. */
  changed(dir: NodeId, name: string, id: NodeId | null): void {
    const n = this.#position();
    let s = this.#state.get(dir);
    if (s === undefined) {
      if (this.#state.size >= STATE_DIRS) this.#state.clear();
      s = this.#count(dir, n);
      this.#state.set(dir, s);
    }
    if (s.lastN < n) {
      // The first change of the directory in entry n: its rows still say how it was after n - 1.
      if (s.changes >= Math.max(LISTING_EVERY, s.size) && s.since < n - 1) {
        const flat: string[] = [];
        for (const e of this.#current(dir)) flat.push(e.name, e.id);
        this.#listings.put(`${dir}\0${pad(n - 1)}\0${flat.length / 2}`, flat);
        s.since = n - 1;
        s.size = flat.length / 2;
        s.changes = 0;
      }
      s.lastN = n;
    }
    const key = `${dir}\0${pad(n)}`;
    if (this.#openN !== n) {
      this.#open.clear();
      this.#openN = n;
    }
    let open = this.#open.get(key);
    if (open === undefined) {
      const row = this.#log.get(key)?.slice() ?? [];
      const at = new Map<string, number>();
      for (let i = 0; i < row.length; i += 2) at.set(row[i]!, i);
      open = { row, at };
      this.#open.set(key, open);
    }
    const at = open.at.get(name);
    if (at === undefined) {
      open.at.set(name, open.row.length);
      open.row.push(name, id);
      s.changes++;
    } else open.row[at + 1] = id;
    this.#log.put(key, open.row);
  }

  /** The state of a directory not yet seen in this batch, from its rows (all before position n). */
  #count(dir: NodeId, n: number): DirState {
    let since = 0;
    let size = 0;
    for (const key of this.#listings.getKeys({ start: `${dir}\x01`, end: `${dir}\0`, reverse: true, limit: 1 })) {
      const at = parseListingKey(dir, key as string);
      since = at.n;
      size = at.size;
    }
    let changes = 0;
    for (const { value } of this.#log.getRange({ start: `${dir}\0${pad(since + 1)}`, end: `${dir}\x01` })) changes += value.length / 2;
    return { since, size, changes, lastN: n - 1 };
  }

  /** The entries of directory `dir` after entry p, in name order. */
  childrenAt(dir: NodeId, p: number): Dirent[] {
    countRangeRead(this.#log.db);
    const names = new Map<string, NodeId>();
    let since = 0;
    let sorted: Dirent[] | null = null;
    for (const { key, value } of this.#listings.getRange({ start: `${dir}\0${pad(p)}\x01`, end: `${dir}\0`, reverse: true, limit: 1 })) {
      since = parseListingKey(dir, key).n;
      sorted = [];
      for (let i = 0; i + 1 < value.length; i += 2) {
        names.set(value[i]!, value[i + 1]!);
        sorted.push({ name: value[i]!, id: value[i + 1]! });
      }
    }
    let tail = 0;
    for (const { value } of this.#log.getRange({ start: `${dir}\0${pad(since + 1)}`, end: `${dir}\0${pad(p + 1)}` })) {
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
}

/** A write-back overlay that also says when the rows under it change around it (a batch abandoned, a rewind). */
class BatchAwareDb<V, K extends Key> extends CachedDb<V, K> {
  readonly #reset: () => void;

  constructor(db: Database<V, K>, history: null, undo: ConstructorParameters<typeof CachedDb<V, K>>[2], reset: () => void) {
    super(db, history, undo);
    this.#reset = reset;
  }

  override forgetEmpty(): void {
    this.#reset();
    super.forgetEmpty();
  }

  override discard(): void {
    this.#reset();
    super.discard();
  }
}

function parseListingKey(dir: string, key: string): { n: number; size: number } {
  const at = dir.length + 1;
  return { n: Number(key.slice(at, at + POSITION_DIGITS)), size: Number(key.slice(at + POSITION_DIGITS + 1)) };
}
