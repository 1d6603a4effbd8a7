/**
 * History rows for as-of queries: every superseded value of a row, keyed by the row's key
 * and the apply position n from which it held (a tombstone at the position the row went
 * away); the current value is the current row, stamped with its n (cached-db.ts):
 *
 *   `${key}\0${n as 12 digits}` -> value | null
 *
 * "The row at position P" is the current row when it holds since P or earlier, else one
 * reverse range read: the last change at or before P. Standing in the past never needs a
 * replay.
 */
import type { Database } from 'lmdb';
import type { CachedDb } from './cached-db.js';

export const POSITION_DIGITS = 12;

let lastN = -1;
let lastPad = '';

export function pad(n: number): string {
  // Applying an entry pads the same position for every row it changes.
  if (n !== lastN) {
    lastN = n;
    lastPad = String(n).padStart(POSITION_DIGITS, '0');
  }
  return lastPad;
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

export function countRangeRead(db: Database<any, string>): void {
  if (++rangeReads < RENEW_EVERY) return;
  rangeReads = 0;
  db.resetReadTxn();
}

/** Compares keys the way LMDB orders them (UTF-8 bytes, i.e. code points). */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

/**
 * As-of reads of a versioned sub-database: its current rows (stamped with the position from
 * which they hold) and its history rows (every superseded value, keyed by the position from
 * which it held; null: removed at that position).
 */
export class HistoryReader<V> {
  constructor(
    readonly db: Database<V | null, string>,
    readonly current: CachedDb<V, string>,
  ) {}

  /** The value the row had after applying entries up to position P (undefined: absent). */
  at(key: string, p: number): V | undefined {
    const now = this.current.stamped(key);
    if (now !== undefined && now[0] <= p) return now[1];
    countRangeRead(this.db);
    for (const { value } of this.db.getRange({ start: historyKey(key, p), end: `${key}\0`, reverse: true, limit: 1 })) {
      return value ?? undefined;
    }
    return undefined;
  }

  /** Every change of the row, oldest first (the current value last). */
  *changes(key: string): Generator<{ n: number; value: V | null }> {
    countRangeRead(this.db);
    const prefix = `${key}\0`;
    // Read to the end before yielding: a cursor left open while the caller reads on would pin
    // the read transaction (see RENEW_EVERY).
    const out: Array<{ n: number; value: V | null }> = [];
    for (const { key: k, value } of this.db.getRange({ start: prefix, end: `${key}\x01` })) out.push({ n: Number(k.slice(prefix.length)), value });
    const now = this.current.stamped(key);
    if (now !== undefined) out.push({ n: now[0], value: now[1] });
    yield* out;
  }

  /** Every change of every row whose key starts with `prefix`, in key order then oldest first. */
  *allChanges(prefix: string): Generator<{ key: string; n: number; value: V | null }> {
    countRangeRead(this.db);
    const byKey = new Map<string, Array<{ key: string; n: number; value: V | null }>>();
    for (const { key: k, value } of this.db.getRange({ start: prefix, ...prefixEnd(prefix) })) {
      const cut = k.lastIndexOf('\0');
      const key = k.slice(0, cut);
      let list = byKey.get(key);
      if (list === undefined) byKey.set(key, (list = []));
      list.push({ key, n: Number(k.slice(cut + 1)), value });
    }
    for (const { key, value } of this.current.getStampedRange({ start: prefix, ...prefixEnd(prefix) })) {
      let list = byKey.get(key);
      if (list === undefined) byKey.set(key, (list = []));
      list.push({ key, n: value[0], value: value[1] });
    }
    for (const key of [...byKey.keys()].sort(compareKeys)) yield* byKey.get(key)!;
  }

  /**
   * The rows whose keys start with `prefix`, as they were at position P, in key order:
   * for each key the last change at or before P, when that is not a tombstone.
   */
  *rangeAt(prefix: string, p: number): Generator<[string, V]> {
    countRangeRead(this.db);
    // Read to the end before yielding (see changes()): readdir looks up every entry it yields.
    const end = prefixEnd(prefix);
    // Rows that hold since P or earlier answer from the current rows (already in key order).
    const now: Array<[string, V]> = [];
    const holds = new Set<string>();
    for (const { key, value } of this.current.getStampedRange({ start: prefix, ...end })) {
      if (value[0] <= p) {
        now.push([key, value[1]]);
        holds.add(key);
      }
    }
    // The others: the last history row at or before P of each key, when not a tombstone.
    const past: Array<[string, V]> = [];
    let current: string | null = null;
    let best: V | null = null;
    for (const { key: k, value } of this.db.getRange({ start: prefix, ...end })) {
      const cut = k.lastIndexOf('\0');
      const key = k.slice(0, cut);
      if (key !== current) {
        if (best !== null && !holds.has(current!)) past.push([current!, best]);
        current = key;
        best = null;
      }
      if (Number(k.slice(cut + 1)) <= p) best = value;
    }
    if (best !== null && !holds.has(current!)) past.push([current!, best]);
    // Merge the two lists, both in key order.
    const out: Array<[string, V]> = [];
    let a = 0;
    let b = 0;
    while (a < now.length || b < past.length) {
      if (b >= past.length || (a < now.length && compareKeys(now[a]![0], past[b]![0]) < 0)) out.push(now[a++]!);
      else out.push(past[b++]!);
    }
    yield* out;
  }
}
