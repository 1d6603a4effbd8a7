/**
 * Undo records: for each apply position n, which rows the entry at n changed. Rewinding the
 * projections to a position n0 (when an entry arrives that sorts before entries already
 * applied) reads the records after n0, puts every changed row back as its history says it
 * was at n0, and drops what was created after n0; the entries are then applied again in the
 * one order. Only the tail is touched, never the whole log.
 *
 *   undo: n -> ["v\0DB\0KEY" | "c\0DB\0KEY", ...]   (v: a versioned row, c: a created row)
 *
 * A rebuild into a scratch place (`realize log replay --check`) can skip the records: nothing
 * rewinds it, and should something want to, it can be rebuilt again. `floor` says from which
 * position on the records exist; a rewind below it is a rebuild (replay.ts integrate).
 */
import type { Database, RootDatabase } from 'lmdb';

export type UndoKind = 'v' | 'c';

export class UndoLog {
  readonly db: Database<string[], number>;
  readonly #meta: Database<number, string>;
  #current = new Set<string>();
  #recording = true;
  #floor: number;

  constructor(env: RootDatabase) {
    this.db = env.openDB({ name: 'undo' });
    this.#meta = env.openDB({ name: 'undo-meta' });
    this.#floor = this.#meta.get('floor') ?? 0;
  }

  /** The first position whose record is kept (0 or 1: every position's). */
  get floor(): number {
    return this.#floor;
  }

  /** Stops keeping records (a scratch rebuild); resume() keeps them again from position `from` on. */
  pause(): void {
    this.#recording = false;
    this.#current = new Set();
  }

  /** Keeps records again; positions before `from` have none (inside a write transaction). */
  resume(from: number): void {
    this.#recording = true;
    if (from > this.#floor) {
      this.#floor = from;
      this.#meta.putSync('floor', from);
    }
  }

  get recording(): boolean {
    return this.#recording;
  }

  /** Notes that the entry being applied changed row `key` of sub-database `name`. */
  touch(kind: UndoKind, name: string, key: string): void {
    if (this.#recording) this.#current.add(`${kind}\0${name}\0${key}`);
  }

  /** Writes the record of the entry at n (inside the apply transaction). */
  seal(n: number): void {
    if (this.#current.size > 0) {
      this.db.putSync(n, [...this.#current]);
      this.#current = new Set();
    }
  }

  /** Drops every record (inside a write transaction). */
  clear(): void {
    this.db.clearSync();
    this.#meta.clearSync();
    this.#floor = 0;
    this.#current = new Set();
  }

  discard(): void {
    this.#current = new Set();
  }

  /** Every row changed after position n0, de-duplicated. */
  changedAfter(n0: number, head: number): Array<{ kind: UndoKind; name: string; key: string }> {
    const all = new Set<string>();
    for (const { value } of this.db.getRange({ start: n0 + 1, end: head + 1 })) for (const r of value) all.add(r);
    return [...all].map((r) => {
      const [kind, name, ...rest] = r.split('\0');
      return { kind: kind as UndoKind, name: name!, key: rest.join('\0') };
    });
  }

  dropAfter(n0: number, head: number): void {
    for (let n = n0 + 1; n <= head; n++) this.db.removeSync(n);
  }
}
