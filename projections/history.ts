/**
 * History rows for as-of queries: every change of a row, keyed by the row's key and the
 * apply position n of the entry that made it (a tombstone when the row went away):
 *
 *   `${key}\0${n as 12 digits}` -> value | null
 *
 * "The row at position P" is one reverse range read: the last change at or before P.
 * Rows are only appended, so standing in the past never needs a replay.
 */
import type { Database } from 'lmdb';

export const POSITION_DIGITS = 12;

export function pad(n: number): string {
  return String(n).padStart(POSITION_DIGITS, '0');
}

export function historyKey(key: string, n: number): string {
  return `${key}\0${pad(n)}`;
}

/**
 * The first key above every key that starts with `prefix` (keys sort by their UTF-8 bytes, so
 * `${prefix}\uffff` is not it: names with characters beyond U+FFFF sort after that).
 */
function prefixEnd(prefix: string): { end?: string } {
  if (prefix === '') return {};
  return { end: `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}` };
}

/**
 * The environment maps its file in chunks (lmdb-env.ts: remapChunks), and one read
 * transaction can hold only so many chunk references: some 1,500 range reads in one
 * synchronous stretch over a large environment fail with MDB_TXN_FULL ("too many dirty
 * pages"), e.g. `ls --at` of a 1,000-entry directory on a 1M-event log. As-of queries make a
 * range read per row, so the shared read transaction is renewed every RENEW_EVERY of them:
 * rows at or before a position never change, so a fresher snapshot reads the same past. A
 * cursor still open pins the old transaction (renewing then does nothing), so the ranges
 * below are read to their end before they yield.
 */
const RENEW_EVERY = 256;
let rangeReads = 0;

function countRangeRead(db: Database<unknown, string>): void {
  if (++rangeReads < RENEW_EVERY) return;
  rangeReads = 0;
  db.resetReadTxn();
}

export class HistoryReader<V> {
  constructor(readonly db: Database<V | null, string>) {}

  /** The value the row had after applying entries up to position P (undefined: absent). */
  at(key: string, p: number): V | undefined {
    countRangeRead(this.db);
    for (const { value } of this.db.getRange({ start: historyKey(key, p), end: `${key}\0`, reverse: true, limit: 1 })) {
      return value ?? undefined;
    }
    return undefined;
  }

  /** Every change of the row, oldest first. */
  *changes(key: string): Generator<{ n: number; value: V | null }> {
    countRangeRead(this.db);
    const prefix = `${key}\0`;
    // Read to the end before yielding: a cursor left open while the caller reads on would pin
    // the read transaction (see RENEW_EVERY).
    const out: Array<{ n: number; value: V | null }> = [];
    for (const { key: k, value } of this.db.getRange({ start: prefix, end: `${key}\x01` })) out.push({ n: Number(k.slice(prefix.length)), value });
    yield* out;
  }

  /** Every change of every row whose key starts with `prefix`, in key order then oldest first. */
  *allChanges(prefix: string): Generator<{ key: string; n: number; value: V | null }> {
    countRangeRead(this.db);
    const out: Array<{ key: string; n: number; value: V | null }> = [];
    for (const { key: k, value } of this.db.getRange({ start: prefix, ...prefixEnd(prefix) })) {
      const cut = k.lastIndexOf('\0');
      out.push({ key: k.slice(0, cut), n: Number(k.slice(cut + 1)), value });
    }
    yield* out;
  }

  /**
   * The rows whose keys start with `prefix`, as they were at position P, in key order:
   * for each key the last change at or before P, when that is not a tombstone.
   */
  *rangeAt(prefix: string, p: number): Generator<[string, V]> {
    countRangeRead(this.db);
    // Read to the end before yielding (see changes()): readdir looks up every entry it yields.
    const out: Array<[string, V]> = [];
    let current: string | null = null;
    let best: V | null = null;
    let seen = false;
    for (const { key: k, value } of this.db.getRange({ start: prefix, ...prefixEnd(prefix) })) {
      const cut = k.lastIndexOf('\0');
      const key = k.slice(0, cut);
      const n = Number(k.slice(cut + 1));
      if (key !== current) {
        if (current !== null && seen && best !== null) out.push([current, best]);
        current = key;
        best = null;
        seen = false;
      }
      if (n <= p) {
        best = value;
        seen = true;
      }
    }
    if (current !== null && seen && best !== null) out.push([current, best]);
    yield* out;
  }
}
