/**
 * Writes of local entries held in memory across entries, and written to LMDB together in one
 * short transaction (ProjectionSet.applyLocal, settle()). A mount operation is one entry:
 * without this, each paid its own LMDB commit and the first copy of every page of the dozen
 * sub-databases it touches; held, a batch of entries pays them once.
 *
 * No LMDB transaction stays open across event-loop turns: while writes are held, the
 * sub-databases' own putSync/removeSync (wrapped here, on each Database object the
 * projections opened) put into a map per sub-database, and get() reads that map first, so
 * every reader in this process sees a held write at once. Any other use of a wrapped
 * sub-database (range reads, counts, clears, binary reads other than through get) needs
 * LMDB itself: outside an apply, the held writes are written first (settle); inside one, the
 * apply stops (HeldWrites.Retry) and ProjectionSet puts that entry back and applies it again
 * the ordinary way, inside a transaction.
 *
 * The log is the truth: held entries are durable in the log (the group-commit writer), and a
 * process killed with entries held reopens with the projections behind the log, which open
 * catches up (replay.ts integrate). Readers in other processes see held entries once written.
 *
 * A scratch rebuild holds its writes the same way and ships them (ship): at the end of each
 * batch the held rows, and the write-back overlays' rows (SHIP_ROWS), are encoded and handed to
 * a writer thread (rebuild-writer.ts) that puts them in one transaction, while this thread
 * applies the next batch; they are read from memory until the writer has committed them.
 */
import type { Database, RangeOptions, RootDatabase } from 'lmdb';
import { EncodedRows, OP_APPEND, OP_PUT, OP_REMOVE, type RebuildWriter } from './rebuild-writer.js';

const DELETED = Symbol('deleted');

/**
 * A wrapped sub-database answers this (by the symbol) with where a CachedDb writes its
 * overlay out at the end of a batch while rows are shipped to a rebuild's writer (null: not
 * shipping; write it the ordinary way). The CachedDb keeps the overlay readable until told
 * (dropInflight) that the writer committed it.
 */
export const SHIP_ROWS = Symbol('ship-rows');
export type ShipRows = (cache: { dropInflight(gen: number): void }) => { readonly gen: number; add(key: unknown, value: unknown, deleted: boolean): void } | null;

interface Row {
  readonly key: unknown;
  readonly value: unknown;
  /** Written with lmdb-js's append flag (at the end of the tree, where it most likely belongs). */
  readonly append: boolean;
}

/** One wrapped sub-database: its held rows and its own methods. */
interface Held {
  readonly db: Database<unknown, any>;
  readonly rows: Map<unknown, Row>;
  /** Rows shipped to a rebuild's writer thread and not yet committed by it (see ship). */
  readonly inflight: Map<unknown, Row>;
  readonly putSync: (key: unknown, value: unknown) => unknown;
  readonly removeSync: (key: unknown) => unknown;
}

/** A wrapped sub-database of string keys answers this (see wrap). */
export interface HasKeyUnder {
  hasKeyUnder(prefix: string, range: RangeOptions): boolean;
}

/** What an apply that needs LMDB itself throws while writes are held (never escapes ProjectionSet). */
export class HeldRetry extends Error {
  constructor(what: string) {
    super(`held writes: ${what} needs LMDB`);
  }
}

/** Methods that need LMDB itself: the held rows are written before they run. */
/** (Not put/remove: lmdb-js's putSync and removeSync call them inside, and nothing here writes asynchronously.) */
const NEEDS_LMDB = ['getRange', 'getKeys', 'getValues', 'getCount', 'getKeysCount', 'getValuesCount', 'getEntry', 'getMany', 'getBinary', 'prefetch', 'clearSync', 'dropSync', 'clearAsync', 'drop', 'getLastVersion'] as const;

function normal(key: unknown): unknown {
  return key instanceof Uint8Array ? Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1') : key;
}

/** A copy of bytes the caller may reuse; other values are kept as they are (callers build them fresh). */
function own(v: unknown): unknown {
  return v instanceof Uint8Array ? Buffer.from(v) : v;
}

export class HeldWrites {
  readonly #env: RootDatabase;
  readonly #held: Held[] = [];
  /** True while writes go to memory (set by the projection set around a local apply, and kept between them). */
  #holding = false;
  /** True while an entry is being applied with writes held: a need of LMDB then throws HeldRetry. */
  #applying = false;
  /** How many rows are held, all sub-databases together. */
  #size = 0;
  /** How many entries the held rows are of. */
  #entries = 0;
  /** The current entry's changes to the held rows, to put back should it be retried: [rows, key, previous]. */
  #journal: Array<readonly [Map<unknown, Row>, unknown, Row | undefined]> = [];
  /** Re-entrancy of get(): lmdb-js's get reads through getBinaryFast, which must then not be intercepted. */
  #inGet = 0;
  /** True while the held rows are being written. */
  #settling = false;
  /** How many times the held rows were written, and why (for measurements and specs). */
  readonly settles = new Map<string, number>();
  /** How many batches were shipped to a rebuild's writer thread (for measurements and specs). */
  shipped = 0;
  /** The writer thread rows are shipped to (a scratch rebuild: see ship), or null. */
  #writer: RebuildWriter | null = null;
  /** Rows of each batch shipped and not yet pruned: [batch, (inflight map, key, row) flattened, the overlays shipped whole]. */
  #shipped: Array<{ readonly gen: number; readonly rows: unknown[]; readonly caches: ReadonlyArray<{ dropInflight(gen: number): void }> }> = [];
  /**
   * The rows of the batch being shipped, in the order they were written: from the end of the
   * batch's apply (openShipment) every write goes straight in, the overlays' too (SHIP_ROWS),
   * after the rows held before it. Null while the batch is applied.
   */
  #out: EncodedRows | null = null;
  /** The overlays that wrote rows into #out. */
  #outCaches: Array<{ dropInflight(gen: number): void }> = [];
  /** Rows put into #out from the held rows' maps (inflight map, key, row) flattened, for #prune. */
  #outRows: unknown[] = [];
  /** Bytes of the last batch shipped (the next one's buffer is sized from it). */
  #lastBytes = 0;

  constructor(env: RootDatabase) {
    this.#env = env;
  }

  get size(): number {
    return this.#size;
  }

  get entries(): number {
    return this.#entries;
  }

  get holding(): boolean {
    return this.#holding;
  }

  /** Wraps a sub-database the projections opened (call once per Database object). */
  wrap<D extends Database<any, any>>(db: D): D {
    const self = this;
    const rows = new Map<unknown, Row>();
    const inflight = new Map<unknown, Row>();
    const d = db as unknown as Record<string, (...a: unknown[]) => unknown>;
    const putSync = d.putSync!.bind(db);
    const removeSync = d.removeSync!.bind(db);
    const get = d.get!.bind(db);
    const getBinaryFast = d.getBinaryFast!.bind(db);
    const doesExist = d.doesExist!.bind(db);
    const index = this.#held.length;
    this.#held.push({ db, rows, inflight, putSync, removeSync });
    const shipRows: ShipRows = (cache) => {
      const out = self.#out;
      if (self.#writer === null || out === null) return null;
      self.#outCaches.push(cache);
      return { gen: self.#writer.sent + 1, add: (key, value, deleted) => out.add(index, db, deleted ? OP_REMOVE : OP_PUT, key, value) };
    };
    Object.defineProperty(db, SHIP_ROWS, { value: shipRows });
    const hold = (key: unknown, value: unknown, append: boolean): void => {
      const k = normal(key);
      const out = this.#out;
      if (out !== null) {
        // The end of a shipped batch: written in order, readable in flight until committed.
        const row: Row = { key: own(key), value, append };
        if (value === DELETED) out.add(index, db, OP_REMOVE, row.key, undefined);
        else out.add(index, db, append ? OP_APPEND : OP_PUT, row.key, value);
        rows.delete(k);
        inflight.set(k, row);
        this.#outRows.push(inflight, k, row);
        return;
      }
      const prev = rows.get(k);
      if (this.#applying) this.#journal.push([rows, k, prev]);
      if (prev === undefined) this.#size++;
      rows.set(k, { key: own(key), value, append });
    };
    /** The row held or in flight for `key` (normal form). */
    const heldRow = (k: unknown): Row | undefined => (rows.size > 0 ? rows.get(k) : undefined) ?? (inflight.size > 0 ? inflight.get(k) : undefined);
    d.putSync = function (key: unknown, value: unknown, opts?: unknown) {
      if (!self.#holding) return putSync(key, value, opts);
      hold(key, own(value), (opts as { append?: boolean } | undefined)?.append === true);
      return true;
    };
    d.removeSync = function (key: unknown, ...rest: unknown[]) {
      // With a value (a duplicate-sorted sub-database): written first, then removed directly.
      if (self.#holding && rest.length > 0) self.#need('removeSync with a value');
      if (!self.#holding) return removeSync(key, ...rest);
      hold(key, DELETED, false);
      return true;
    };
    d.get = function (key: unknown, opts?: unknown) {
      if (rows.size > 0 || inflight.size > 0) {
        const row = heldRow(normal(key));
        if (row !== undefined) {
          if (opts === undefined) return row.value === DELETED ? undefined : row.value;
          self.#need('get with options');
        }
      }
      self.#inGet++;
      try {
        return get(key, opts);
      } finally {
        self.#inGet--;
      }
    };
    d.getBinaryFast = function (key: unknown, opts?: unknown) {
      if (self.#inGet === 0 && (rows.size > 0 || inflight.size > 0)) {
        const row = heldRow(normal(key));
        if (row !== undefined) {
          if (row.value === DELETED) return undefined;
          if (row.value instanceof Uint8Array) return row.value;
          self.#need('getBinaryFast');
        }
      }
      return getBinaryFast(key, opts);
    };
    d.doesExist = function (key: unknown, ...rest: unknown[]) {
      if (rows.size > 0 || inflight.size > 0) {
        if (rest.length > 0) self.#need('doesExist with a value');
        else {
          const row = heldRow(normal(key));
          if (row !== undefined) return row.value !== DELETED;
        }
      }
      return doesExist(key, ...rest);
    };
    // lmdb-js's getKeys is getRange with values: false (getRange is wrapped below: the original here).
    const rawRange = d.getRange!.bind(db) as (options: RangeOptions) => Iterable<unknown>;
    const getKeys = (range: RangeOptions): Iterable<unknown> => rawRange({ ...range, values: false } as RangeOptions);
    // Whether any key under `prefix` (within `range`, the same keys) is there, held rows
    // included, without writing them first: a directory's emptiness (rmdir) asks this.
    (d as unknown as HasKeyUnder).hasKeyUnder = function (prefix: string, range: RangeOptions): boolean {
      // Rows shipped are read from LMDB once committed (overlays' rows in flight are not seen here).
      if (self.#shipped.length > 0 || self.#out !== null) self.#commitShipped();
      if (rows.size === 0 && inflight.size === 0) {
        for (const _ of getKeys({ ...range, limit: 1 })) return true;
        return false;
      }
      for (const [k, row] of rows) if (row.value !== DELETED && typeof k === 'string' && k.startsWith(prefix)) return true;
      for (const [k, row] of inflight) if (row.value !== DELETED && typeof k === 'string' && k.startsWith(prefix) && !rows.has(k)) return true;
      for (const key of getKeys(range)) {
        const row = heldRow(normal(key));
        if (row === undefined || row.value !== DELETED) return true;
      }
      return false;
    };
    for (const name of NEEDS_LMDB) {
      const own = d[name];
      if (typeof own !== 'function') continue;
      const bound = own.bind(db);
      d[name] = function (...args: unknown[]) {
        if ((self.#size > 0 || self.#shipped.length > 0 || self.#out !== null) && !self.#settling) self.#need(name);
        return bound(...args);
      };
    }
    return db;
  }

  /** Something needs LMDB itself: inside an apply, retry it in a transaction; else write the held rows now. */
  #need(what: string): void {
    if (this.#applying) throw new HeldRetry(what);
    this.settle(what);
  }

  /** An entry's apply starts (writes held); a need of LMDB throws HeldRetry until done(). */
  begin(): void {
    this.#holding = true;
    this.#applying = true;
    this.#journal = [];
  }

  /** The entries' apply ended: their writes stay held. */
  done(entries: number): void {
    this.#entries += entries;
    this.#applying = false;
    this.#journal = [];
  }

  /** The entry's apply failed or is retried: its writes are taken back (the held rows of earlier entries stay). */
  takeBack(): void {
    for (let i = this.#journal.length - 1; i >= 0; i--) {
      const [rows, k, prev] = this.#journal[i]!;
      if (prev === undefined) {
        rows.delete(k);
        this.#size--;
      } else rows.set(k, prev);
    }
    this.#journal = [];
    this.#applying = false;
  }

  /**
   * Writes every held row to LMDB in one transaction and stops holding. Must not run inside
   * an apply (the entry's rows would be written half done).
   */
  settle(why: string): void {
    // Rows shipped to a rebuild's writer are committed first (they are older than the held ones);
    // at the end of a batch, its rows so far are shipped first (a range read there needs them).
    if (this.#writer !== null) this.#commitShipped();
    if (this.#writer === null) this.#holding = false;
    this.#entries = 0;
    if (this.#size === 0) return;
    if (this.#applying) throw new Error('held writes: settle inside an apply');
    this.settles.set(why, (this.settles.get(why) ?? 0) + 1);
    this.#settling = true;
    try {
      this.#env.transactionSync(() => {
        for (const h of this.#held) {
          if (h.rows.size === 0) continue;
          for (const { key, value } of h.rows.values()) {
            if (value === DELETED) h.removeSync(key);
            else h.putSync(key, value);
          }
        }
      });
    } finally {
      this.#settling = false;
    }
    for (const h of this.#held) h.rows.clear();
    this.#size = 0;
  }

  /**
   * From now on rows are held and shipped to `writer` (a scratch rebuild: rebuild-writer.ts) at
   * each ship(), instead of written by this thread; ships until stopShipping().
   */
  shipTo(writer: RebuildWriter): void {
    if (this.#size > 0) this.settle('ship');
    this.#writer = writer;
    this.#holding = true;
  }

  /** The wrapped sub-databases, in the order rows are shipped by (EncodedRows indexes): name, and whether lmdb-js keys them as bytes. */
  names(): Array<{ name: string; bufferKeys: boolean }> {
    return this.#held.map((h) => {
      const db = h.db as unknown as { name: string; keyEncoding?: string; keyEncoder?: { enableNullTermination?: unknown } };
      if (db.keyEncoding !== undefined && db.keyEncoding !== 'binary') throw new Error(`held writes: keys encoded as ${db.keyEncoding} cannot be shipped`);
      // lmdb-js compares keys its own way unless they are bytes (keyEncoding binary, or an encoder of its own): the writer opens each the same way.
      return { name: db.name, bufferKeys: db.keyEncoding === 'binary' || (db.keyEncoder !== undefined && db.keyEncoder.enableNullTermination === undefined) };
    });
  }

  /** The writer rows are shipped to (null: none). */
  get writer(): RebuildWriter | null {
    return this.#writer;
  }

  get shipping(): boolean {
    return this.#writer !== null;
  }

  /**
   * Hands every held row to the writer (encoded as each sub-database encodes it), to be
   * written in one transaction; they stay readable in flight until it has committed them.
   */
  ship(): void {
    const writer = this.#writer;
    if (writer === null) throw new Error('held writes: ship without a writer');
    if (this.#out === null) this.openShipment();
    const out = this.#out!;
    const rows = this.#outRows;
    const caches = this.#outCaches;
    this.#out = null;
    this.#outRows = [];
    this.#outCaches = [];
    if (out.length === 0) return;
    this.#lastBytes = out.length;
    this.#shipped.push({ gen: writer.send(out), rows, caches });
    this.shipped++;
  }

  /**
   * The batch's apply is done and its end begins (positions, checkpoints, the overlays written
   * out): at most one batch left in flight (the overlays keep two readable), and the rows held
   * so far put first in the batch's rows, every later write after them as it comes.
   */
  openShipment(): void {
    const writer = this.#writer;
    if (writer === null) return;
    writer.waitFor(writer.sent - 1);
    this.#prune(writer.committed);
    if (this.#out !== null) return;
    const out = (this.#out = new EncodedRows(this.#lastBytes + (this.#lastBytes >> 2)));
    const shipped = this.#outRows;
    const held = this.#held;
    for (let i = 0; i < held.length; i++) {
      const h = held[i]!;
      if (h.rows.size === 0) continue;
      const inflight = h.inflight;
      h.rows.forEach((row, k) => {
        if (row.value === DELETED) out.add(i, h.db, OP_REMOVE, row.key, undefined);
        else out.add(i, h.db, row.append ? OP_APPEND : OP_PUT, row.key, row.value);
        inflight.set(k, row);
        shipped.push(inflight, k, row);
      });
      h.rows.clear();
    }
    this.#size = 0;
  }

  /** Forgets rows in flight of batches the writer committed (LMDB has them now: this thread reads them afresh). */
  #prune(committed: number): void {
    let pruned = false;
    while (this.#shipped.length > 0 && this.#shipped[0]!.gen <= committed) {
      const { gen, rows, caches } = this.#shipped.shift()!;
      for (const c of caches) c.dropInflight(gen);
      for (let i = 0; i < rows.length; i += 3) {
        const inflight = rows[i] as Map<unknown, Row>;
        const k = rows[i + 1];
        if (inflight.get(k) === rows[i + 2]) inflight.delete(k);
      }
      pruned = true;
    }
    if (pruned) this.#env.resetReadTxn();
  }

  /** Every row shipped, or put in the open shipment, committed by the writer (a range read needs LMDB to hold them). */
  #commitShipped(): void {
    if (this.#out !== null && this.#out.length > 0) {
      this.ship();
      this.openShipment();
    }
    this.drain();
  }

  /** Waits until the writer committed every batch shipped, and forgets them. */
  drain(): void {
    const writer = this.#writer;
    if (writer === null) return;
    writer.waitFor(writer.sent);
    this.#prune(writer.sent);
  }

  /** Ships no more: waits for the writer, and writes held rows in this thread again. Returns the writer (the caller closes it). */
  stopShipping(): RebuildWriter | null {
    const writer = this.#writer;
    if (writer === null) return null;
    try {
      this.drain();
    } finally {
      this.#writer = null;
    }
    this.settle('ship');
    return writer;
  }

  /** Drops every held row without writing it (the caller reapplies or rebuilds). */
  forget(): void {
    this.#out = null;
    this.#outCaches = [];
    this.#outRows = [];
    this.drain();
    for (const h of this.#held) h.rows.clear();
    this.#size = 0;
    this.#entries = 0;
    this.#journal = [];
    this.#applying = false;
    this.#holding = false;
  }
}
