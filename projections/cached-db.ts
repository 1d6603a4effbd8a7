/**
 * A write-back overlay over one LMDB sub-database, used while a batch of entries is applied
 * inside one write transaction: reads see the overlay first, writes stay in memory, and the
 * overlay is written out once at the end of the batch (still inside the transaction). A
 * directory touched by a thousand creates is written once, not a thousand times. Range
 * reads flush the overlay first, so they always see every write.
 */
import type { Database, Key, RangeOptions } from 'lmdb';
import { historyKey } from './history.js';
import type { UndoKind, UndoLog } from './undo-log.js';

/** Where a CachedDb records every change for as-of queries, and the position of the entry being applied. */
export interface HistorySink {
  readonly db: CachedDb<unknown, string>;
  readonly position: () => number;
}

/** Where a CachedDb notes each row it changes, so a rewind can undo the entry (undo-log.ts). */
export interface UndoSink {
  readonly log: UndoLog;
  readonly name: string;
  /** v: the row has history rows to restore from; c: the row is only ever created, and dropped on undo. */
  readonly kind: UndoKind;
}

const DELETED = Symbol('deleted');

export class CachedDb<V, K extends Key> {
  readonly db: Database<V, K>;
  readonly #overlay = new Map<K extends string | number ? K : string, V | typeof DELETED>();
  readonly #keyOf: (k: K) => K extends string | number ? K : string;
  readonly #keys = new Map<string | number, K>();
  #active = false;
  readonly #history: HistorySink | null;
  readonly #undo: UndoSink | null;

  /**
   * With `history` (string keys only), every put and remove is also recorded as a history
   * row; with `undo`, every changed key is noted in the undo log.
   */
  constructor(db: Database<V, K>, history: HistorySink | null = null, undo: UndoSink | null = null) {
    this.db = db;
    this.#history = history;
    this.#undo = undo;
    this.#keyOf = ((k: K) => (typeof k === 'string' || typeof k === 'number' ? k : Buffer.from(k as Uint8Array).toString('latin1'))) as never;
  }

  /** Starts buffering writes (call inside a write transaction). */
  begin(): void {
    this.#active = true;
  }

  get(key: K): V | undefined {
    if (this.#active) {
      const v = this.#overlay.get(this.#keyOf(key));
      if (v !== undefined) return v === DELETED ? undefined : v;
    }
    return this.db.get(key);
  }

  #note(key: K): void {
    if (this.#undo) this.#undo.log.touch(this.#undo.kind, this.#undo.name, typeof key === 'string' ? key : Buffer.from(key as Uint8Array).toString('hex'));
  }

  put(key: K, value: V): void {
    this.#note(key);
    if (this.#history) this.#history.db.put(historyKey(key as string, this.#history.position()), value);
    if (!this.#active) {
      this.db.putSync(key, value);
      return;
    }
    const k = this.#keyOf(key);
    this.#overlay.set(k, value);
    if (typeof k === 'string' && typeof key !== 'string') this.#keys.set(k, key);
  }

  remove(key: K): void {
    this.#note(key);
    if (this.#history) this.#history.db.put(historyKey(key as string, this.#history.position()), null);
    if (!this.#active) {
      this.db.removeSync(key);
      return;
    }
    const k = this.#keyOf(key);
    this.#overlay.set(k, DELETED);
    if (typeof k === 'string' && typeof key !== 'string') this.#keys.set(k, key);
  }

  getRange(options?: RangeOptions): ReturnType<Database<V, K>['getRange']> {
    this.flush();
    return this.db.getRange(options);
  }

  getKeys(options?: RangeOptions): ReturnType<Database<V, K>['getKeys']> {
    this.flush();
    return this.db.getKeys(options);
  }

  /** Writes the overlay out (inside the caller's transaction). */
  flush(): void {
    if (this.#overlay.size === 0) return;
    for (const [k, v] of this.#overlay) {
      const key = (this.#keys.get(k) ?? k) as K;
      if (v === DELETED) this.db.removeSync(key);
      else this.db.putSync(key, v);
    }
    this.#overlay.clear();
    this.#keys.clear();
  }

  /** Flushes and stops buffering. */
  end(): void {
    this.flush();
    this.#active = false;
  }

  /** Drops the overlay without writing it (the transaction is being abandoned). */
  discard(): void {
    this.#overlay.clear();
    this.#keys.clear();
    this.#active = false;
  }
}
