/**
 * A write-back overlay over one LMDB sub-database, used while a batch of entries is applied
 * inside one write transaction: reads see the overlay first, writes stay in memory, and the
 * overlay is written out once at the end of the batch (still inside the transaction). A
 * directory touched by a thousand creates is written once, not a thousand times. Range
 * reads flush the overlay first, so they always see every write.
 *
 * With a history sink (versioned rows, see history.ts), each current row is stored stamped
 * with the position of its last change and the positions of the changes before it, and the
 * sink keeps the value each change superseded (once per row and entry: a row changed many
 * times within one entry costs one history row).
 *
 * With an undo sink, each row an entry changed is noted in the undo log when the entry is
 * sealed (seal(n)).
 */
import type { Database, Key, RangeOptions } from 'lmdb';
import type { UndoKind, UndoLog } from './undo-log.js';
import { WrittenKeys } from './written-keys.js';
import { SHIP_ROWS, type HasKeyUnder, type ShipRows } from './held-writes.js';

/**
 * Where a CachedDb keeps superseded values for as-of queries (history.ts): told of every
 * change of a current row, it returns the row to store (stamped with its changes).
 */
export interface HistorySink {
  readonly db: Database<unknown, any>;
  put(key: string, value: unknown, prev: Stamped<unknown> | undefined): Stamped<unknown>;
  remove(key: string, prev: Stamped<unknown>): void;
  /** The entry at n is applied. */
  seal(n: number): void;
  /** The batch ends (or a range read needs every row written). */
  flush(): void;
  discard(): void;
  markEmpty(): void;
  forgetEmpty(): void;
}

/** Where a CachedDb notes each row it changes, so a rewind can undo the entry (undo-log.ts). */
export interface UndoSink {
  readonly log: UndoLog;
  readonly name: string;
  /** v: the row has history rows to restore from; c: the row is only ever created, and dropped on undo. */
  readonly kind: UndoKind;
}

/**
 * A versioned current row: the position from which it holds (its last change), its value,
 * and the positions of its earlier changes (history.ts).
 */
export type Stamped<V> = readonly [n: number, value: V, earlier?: Uint8Array];

/** Reads a stored versioned row (a bare value, e.g. written by hand, holds from 0). */
export function unstamp<V>(raw: unknown): Stamped<V> | undefined {
  if (raw === undefined || raw === null) return undefined;
  return Array.isArray(raw) ? (raw as unknown as Stamped<V>) : [0, raw as V];
}

const DELETED = Symbol('deleted');

export class CachedDb<V, K extends Key> {
  readonly db: Database<V, K>;
  #overlay = new Map<K extends string | number ? K : string, unknown>();
  readonly #keyOf: (k: K) => K extends string | number ? K : string;
  readonly #keys = new Map<string | number, K>();
  #active = false;
  /**
   * Set when the sub-database was emptied (markEmpty): every key written through this
   * overlay since. A key it never saw is not in LMDB, so a read of it costs no LMDB read.
   */
  #written: WrittenKeys | null = null;
  /** Keys changed by the entry being applied (only kept with an undo sink). */
  readonly #dirty = new Set<K>();
  readonly #history: HistorySink | null;
  readonly #undo: UndoSink | null;
  /**
   * A scratch rebuild ships each batch's rows to a writer thread (held-writes.ts ship): the
   * overlay written out is kept here, readable, until the writer has committed it: the last
   * batch's, and the one before it (two batches in flight at most: rebuild-writer.ts).
   */
  #inflight: Map<unknown, unknown> | null = null;
  #inflightGen = 0;
  #inflight2: Map<unknown, unknown> | null = null;
  #inflight2Gen = 0;
  readonly #ship: ShipRows | undefined;

  /** With `history` (string keys only), rows are stamped and superseded values kept; with `undo`, changed keys are noted. */
  constructor(db: Database<V, K>, history: HistorySink | null = null, undo: UndoSink | null = null) {
    this.db = db;
    this.#ship = (db as unknown as { [SHIP_ROWS]?: ShipRows })[SHIP_ROWS];
    this.#history = history;
    this.#undo = undo;
    // Bytes keys by their latin1 string (a view: Buffer.from of a Uint8Array would copy it first).
    this.#keyOf = ((k: K) => (typeof k === 'string' || typeof k === 'number' ? k : (Buffer.isBuffer(k) ? k : Buffer.from((k as Uint8Array).buffer, (k as Uint8Array).byteOffset, (k as Uint8Array).byteLength)).toString('latin1'))) as never;
  }

  get versioned(): boolean {
    return this.#history !== null;
  }

  /** The sub-database this overlay writes superseded values into (not through its overlay). */
  get historyDb(): Database<unknown, any> | null {
    return this.#history?.db ?? null;
  }

  /** Starts buffering writes (call inside a write transaction). */
  begin(): void {
    this.#active = true;
  }

  #raw(key: K): unknown {
    if (this.#active) {
      const k = this.#keyOf(key);
      const v = this.#overlay.get(k);
      if (v !== undefined) return v === DELETED ? undefined : v;
      if (this.#written !== null && !this.#written.mayHave(k)) return undefined;
    }
    if (this.#inflight !== null) {
      const k = this.#keyOf(key);
      let v = this.#inflight.get(k);
      if (v === undefined && this.#inflight2 !== null) v = this.#inflight2.get(k);
      if (v !== undefined) return v === DELETED ? undefined : v;
    }
    return this.db.get(key);
  }

  /**
   * The sub-database was just emptied (inside the clearing transaction), and from now on
   * its rows are written only through this overlay: reads of keys never written since skip
   * LMDB. Anything that writes the database directly must call forgetEmpty() first.
   */
  markEmpty(): void {
    this.#written = new WrittenKeys();
    this.#history?.markEmpty();
  }

  /** Reads ask LMDB again (rows were or will be written around this overlay, e.g. by a rewind). */
  forgetEmpty(): void {
    this.#written = null;
    this.#history?.forgetEmpty();
  }

  get(key: K): V | undefined {
    const raw = this.#raw(key);
    if (this.#history === null) return raw as V | undefined;
    return unstamp<V>(raw)?.[1];
  }

  /**
   * The row's stored bytes as lmdb-js lends them (a shared buffer: valid until the next read;
   * `length` is the row's), for a reader that takes a few fields out without decoding the row
   * (nor keeping it decoded in lmdb-js's cache); undefined when it is not stored, or while a
   * batch is applied (its rows may be in the overlay: read them with get()).
   */
  rawRow(key: K): Uint8Array | undefined {
    if (this.#active) return undefined;
    return this.db.getBinaryFast(key) ?? undefined;
  }

  /** A versioned row with the position from which it holds. */
  stamped(key: K): Stamped<V> | undefined {
    return unstamp<V>(this.#raw(key));
  }

  /** Notes a key that reaches LMDB in the filter of written keys (markEmpty). */
  #noteWritten(k: string | number): void {
    if (this.#written === null) return;
    this.#written.add(k);
    if (!this.#written.useful) this.#written = null;
  }

  #write(key: K, raw: unknown): void {
    const k = this.#keyOf(key);
    if (!this.#active) {
      this.#noteWritten(k);
      if (raw === DELETED) this.db.removeSync(key);
      else this.db.putSync(key, raw as V);
      return;
    }
    // A key is noted in the filter when it first enters the overlay (once a batch, where a row
    // is often changed several times: create, write, commit, setattr; a directory at every
    // create in it): most writes follow a read of the same key, whose hash the filter kept, so
    // it is not hashed again when the overlay is written out. Noted early, a key the batch then
    // abandons only costs a read of LMDB later (the filter may say "maybe", never "no" wrongly).
    const had = this.#overlay.size;
    this.#overlay.set(k, raw);
    if (this.#overlay.size !== had) this.#noteWritten(k);
    if (typeof k === 'string' && typeof key !== 'string') this.#keys.set(k, key);
  }

  #changed(key: K): void {
    if (this.#undo === null || !this.#undo.log.recording) return;
    if (this.#active) this.#dirty.add(key);
    else this.#note(key);
  }

  #note(key: K): void {
    this.#undo!.log.touch(this.#undo!.kind, this.#undo!.name, typeof key === 'string' ? key : Buffer.from(key as Uint8Array).toString('hex'));
  }

  put(key: K, value: V): void {
    this.#changed(key);
    if (this.#history === null) {
      this.#write(key, value);
      return;
    }
    this.#write(key, this.#history.put(key as string, value, this.stamped(key)));
  }

  remove(key: K): void {
    this.#changed(key);
    if (this.#history === null) {
      this.#write(key, DELETED);
      return;
    }
    const prev = this.stamped(key);
    if (prev === undefined) return;
    this.#history.remove(key as string, prev);
    this.#write(key, DELETED);
  }

  /** The entry at position n is applied: undo notes for the keys it changed. */
  seal(n: number): void {
    this.#history?.seal(n);
    if (this.#dirty.size === 0) return;
    for (const key of this.#dirty) this.#note(key);
    this.#dirty.clear();
  }

  /** Rows in key order (versioned rows: their values, without the stamp). */
  getRange(options?: RangeOptions): Iterable<{ key: K; value: V }> {
    this.flush();
    if (this.#history === null) return this.db.getRange(options);
    return this.db.getRange(options).map(({ key, value }) => ({ key, value: unstamp<V>(value)![1] }));
  }

  /**
   * Whether a key under `prefix` (string keys; `range` bounds the same keys) is there: on a
   * sub-database whose writes may be held (held-writes.ts), asked of the held rows and LMDB
   * together, without writing the held rows first.
   */
  hasKeyUnder(prefix: string, range: RangeOptions): boolean {
    this.flush();
    const db = this.db as unknown as Partial<HasKeyUnder>;
    if (db.hasKeyUnder !== undefined) return db.hasKeyUnder(prefix, range);
    for (const _ of this.db.getKeys({ ...range, limit: 1 })) return true;
    return false;
  }

  /** Versioned rows in key order, with their stamps. */
  getStampedRange(options?: RangeOptions): Iterable<{ key: K; value: Stamped<V> }> {
    this.flush();
    return this.db.getRange(options).map(({ key, value }) => ({ key, value: unstamp<V>(value)! }));
  }

  getKeys(options?: RangeOptions): ReturnType<Database<V, K>['getKeys']> {
    this.flush();
    return this.db.getKeys(options);
  }

  /** Writes the overlay out (inside the caller's transaction). */
  flush(): void {
    this.#history?.flush();
    if (this.#overlay.size === 0) return;
    // forEach: no [key, value] pair made per row. Keys given as bytes are looked up (most sub-databases have none).
    const keys = this.#keys.size === 0 ? null : this.#keys;
    this.#overlay.forEach((v, k) => {
      const key = (keys === null ? k : (keys.get(k) ?? k)) as K;
      if (v === DELETED) this.db.removeSync(key);
      else this.db.putSync(key, v as V);
    });
    this.#overlay.clear();
    this.#keys.clear();
  }

  /** Flushes and stops buffering. */
  end(): void {
    const out = this.#ship?.(this);
    if (out === undefined || out === null) this.flush();
    else this.#shipOverlay(out);
    this.#active = false;
  }

  /**
   * Writes the overlay out to the rows a writer thread puts in the next transaction, and keeps
   * it readable until then (a map handed over whole: no row by row copy).
   */
  #shipOverlay(out: { readonly gen: number; add(key: unknown, value: unknown, deleted: boolean): void }): void {
    this.#history?.flush();
    if (this.#overlay.size === 0) return;
    const keys = this.#keys.size === 0 ? null : this.#keys;
    this.#overlay.forEach((v, k) => {
      const key = keys === null ? k : (keys.get(k) ?? k);
      if (v === DELETED) out.add(key, undefined, true);
      else out.add(key, v, false);
    });
    if (this.#inflight2 !== null) throw new Error('write-back overlay: a third batch in flight');
    this.#inflight2 = this.#inflight;
    this.#inflight2Gen = this.#inflightGen;
    this.#inflight = this.#overlay as Map<unknown, unknown>;
    this.#inflightGen = out.gen;
    this.#overlay = new Map();
    this.#keys.clear();
  }

  /** The writer committed the batches shipped up to `gen` (LMDB has their rows). */
  dropInflight(gen: number): void {
    if (this.#inflight2 !== null && this.#inflight2Gen <= gen) this.#inflight2 = null;
    if (this.#inflight !== null && this.#inflightGen <= gen) {
      this.#inflight = null;
      this.#inflight2 = null;
    }
  }

  /** Drops the overlay without writing it (the transaction is being abandoned). */
  discard(): void {
    this.#inflight = null;
    this.#inflight2 = null;
    this.#history?.discard();
    this.#dirty.clear();
    this.#overlay.clear();
    this.#keys.clear();
    this.#active = false;
  }
}

/** What an EntryRowsDb tells its owner. */
export interface EntryRowHooks {
  /** A batch starts (its entries are applied next). */
  begin?(): void;
  /** The entry at n is applied: write its rows. */
  seal(n: number): void;
  /** The batch ended: its rows are written. */
  end?(): void;
  /** The batch is abandoned (or, outside a batch, every row cleared): what the entry pends is void. */
  discard(): void;
  /** The rows are about to be written around the overlays (a rewind): what is pending or known of them is void. */
  forgetEmpty?(): void;
}

/**
 * Rows an entry writes itself when it is sealed (touches, directory changes): a CachedDb in
 * name only, begun, sealed, flushed and discarded with the others so the projection set
 * drives it, and telling its owner through `hooks`.
 */
export class EntryRowsDb extends CachedDb<never, never> {
  readonly #hooks: EntryRowHooks;

  constructor(db: Database<any, any>, hooks: EntryRowHooks) {
    super(db as never);
    this.#hooks = hooks;
  }

  override begin(): void {
    super.begin();
    this.#hooks.begin?.();
  }

  override seal(n: number): void {
    super.seal(n);
    this.#hooks.seal(n);
  }

  override end(): void {
    super.end();
    this.#hooks.end?.();
  }

  override forgetEmpty(): void {
    this.#hooks.forgetEmpty?.();
    super.forgetEmpty();
  }

  override discard(): void {
    this.#hooks.discard();
    super.discard();
  }
}
