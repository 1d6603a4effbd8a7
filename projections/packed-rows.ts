/**
 * Rows of many small records written by one entry (history.ts: the values it replaced;
 * touches.ts: the events it made of each node), packed by bucket instead of a row each:
 *
 *   [m u32 BE][bucket] -> [head?]([key length varint][key][value length varint][value])...
 *
 * A row per record cost LMDB's 10 bytes of node header and slot and its key; one row per
 * entry went past half a page, to overflow pages a quarter empty. The bucket is the first
 * nibble of a hash of the key; a bucket past PACKED_BYTES is split in four by the next two
 * bits, and so on (its own row then holds nothing), so a point read is one point read (or a
 * few, in an entry of thousands of records) of a row under 2 KB and a scan of its records.
 * Rows are written at the end of the tree (LMDB's append mode: full pages).
 */
import type { Database } from 'lmdb';
import { readVarint, writeVarint } from './varint.js';

/**
 * Writes a row at the end of the tree (LMDB's append mode: a full page is left behind when
 * the last one splits), or where it belongs when it is not the last key (lmdb-js then says false).
 */
export function appendRow<V>(db: Database<V, Buffer>, key: Buffer, value: V): void {
  if (!(db.putSync(key, value, { append: true }) as unknown as boolean)) db.putSync(key, value);
}

/** A bucket's records past this many bytes are split by the next nibble of their keys' hash. */
export const PACKED_BYTES = 1536;
/**
 * Levels of buckets: the first nibble of the 32-bit hash, then two bits a level (a bucket a
 * little past PACKED_BYTES becomes four rows, not sixteen tiny ones); one at the last level
 * is never split.
 */
const LEVELS = 15;

/** The bucket of hash h at `level`: its first nibble at level 0, then the next two bits. */
function bucketOf(h: number, level: number): number {
  return level === 0 ? h >>> 28 : (h >>> (28 - 2 * level)) & 3;
}

/** FNV-1a of a key's bytes: spreads keys led by the same id (a directory's names) over buckets. */
export function keyHash(kb: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < kb.length; i++) h = Math.imul(h ^ kb[i]!, 0x01000193);
  return h >>> 0;
}

/** Copies `b` into `out` at `at`; where it ends. Most records are a few bytes: a loop, not a native copy. */
function put(out: Uint8Array, at: number, b: Uint8Array): number {
  const n = b.byteLength;
  if (n > 32) {
    out.set(b, at);
    return at + n;
  }
  for (let i = 0; i < n; i++) out[at + i] = b[i]!;
  return at + n;
}

/** The row of the bucket of hash h at `level` (0: the first nibble) of entry m: [m u32][one nibble a byte, levels 0..level]. */
export function bucketKey(m: number, h: number, level: number): Buffer {
  const out = Buffer.allocUnsafe(5 + level);
  out.writeUInt32BE(m, 0);
  for (let l = 0; l <= level; l++) out[4 + l] = bucketOf(h, l);
  return out;
}

/** Bytes of a value in a packed row, and back (the history sub-database's own encoding). */
export interface ValueBytes {
  encode(v: unknown): Uint8Array;
  decode(b: Uint8Array): unknown;
}

export interface PackedRecord {
  readonly kb: Buffer;
  readonly vb: Uint8Array;
  readonly h: number;
}

/**
 * Writes the records of entry m (in key order) as rows of buckets, splitting the big ones, in
 * key order at the end of the tree; `head`, when given, leads every row that holds records.
 */
export function writePacked(db: Database<any, Buffer>, m: number, records: readonly PackedRecord[], level = 0, head?: Uint8Array): void {
  const groups: PackedRecord[][] = Array.from({ length: level === 0 ? 16 : 4 }, () => []);
  for (const r of records) groups[bucketOf(r.h, level)]!.push(r);
  for (const group of groups) {
    if (group.length === 0) continue;
    let bytes = head?.byteLength ?? 0;
    for (const r of group) bytes += 10 + r.kb.length + r.vb.byteLength;
    const key = bucketKey(m, group[0]!.h, level);
    if (bytes > PACKED_BYTES && level + 1 < LEVELS && group.length > 1) {
      appendRow(db, key, new Uint8Array(0));
      writePacked(db, m, group, level + 1, head);
      continue;
    }
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    if (head !== undefined) {
      out.set(head, 0);
      at = head.byteLength;
    }
    for (const r of group) {
      at = writeVarint(out, at, r.kb.length);
      at = put(out, at, r.kb);
      at = writeVarint(out, at, r.vb.byteLength);
      at = put(out, at, r.vb);
    }
    appendRow(db, key, out.subarray(0, at));
  }
}

/**
 * The row of entry m that holds key `kb`'s bucket, if the entry wrote it (its records, after
 * any head), read through `get`: one point read, or one a level in a split bucket.
 */
export function packedRow(get: (key: Buffer) => Uint8Array | undefined, m: number, kb: Uint8Array): Uint8Array | undefined {
  const h = keyHash(kb);
  for (let level = 0; level < LEVELS; level++) {
    const row = get(bucketKey(m, h, level));
    if (row === undefined) return undefined;
    // `length`: lmdb-js's getBinaryFast hands back a shared buffer whose length is the value's.
    if (row.length === 0) continue;
    return row;
  }
  return undefined;
}

/** The value bytes of key `kb` in entry m's packed rows (no head), read through `get`. */
export function readPacked(get: (key: Buffer) => Uint8Array | undefined, m: number, kb: Uint8Array): Uint8Array | undefined {
  const row = packedRow(get, m, kb);
  return row === undefined ? undefined : findPacked(row, kb, 0, row.length);
}

/** `a` against the `len` bytes of `b` at `from`, as LMDB orders bytes (in JS: most keys differ in their first bytes). */
function compareAt(a: Uint8Array, b: Uint8Array, from: number, len: number): number {
  const n = Math.min(a.length, len);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[from + i]!;
    if (d !== 0) return d;
  }
  return a.length - len;
}

/** A varint's value and end (one byte: no array). */
function varintAt(buf: Uint8Array, at: number, out: { v: number; at: number }): void {
  const b = buf[at]!;
  if (b < 128) {
    out.v = b;
    out.at = at + 1;
    return;
  }
  [out.v, out.at] = readVarint(buf, at);
}

const scratch = { v: 0, at: 0 };

/**
 * The value bytes of key `kb` in a packed row (a view), its records from `from` to `end`, or
 * undefined. `end` is the row's `length`, never its byteLength: lmdb-js's getBinaryFast hands
 * back its 16 MiB shared buffer with `length` set to the value's, and a scan to its byteLength
 * read stale bytes as records (a key not written found, or megabytes scanned for each miss).
 */
export function findPacked(row: Uint8Array, kb: Uint8Array, from = 0, end = row.length): Uint8Array | undefined {
  let at = from;
  while (at < end) {
    varintAt(row, at, scratch);
    const klen = scratch.v;
    const k = scratch.at;
    varintAt(row, k + klen, scratch);
    const cmp = compareAt(kb, row, k, klen);
    if (cmp === 0) return row.subarray(scratch.at, scratch.at + scratch.v);
    if (cmp < 0) return undefined;
    at = scratch.at + scratch.v;
  }
  return undefined;
}

/** Every record of a packed row (from `from`: past its head): its key bytes and value bytes. */
export function* packedRecords(row: Uint8Array, from = 0): Generator<{ kb: Buffer; vb: Buffer }> {
  const buf = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
  let at = from;
  while (at < buf.length) {
    const [klen, k] = readVarint(buf, at);
    const [vlen, v] = readVarint(buf, k + klen);
    yield { kb: buf.subarray(k, k + klen), vb: buf.subarray(v, v + vlen) };
    at = v + vlen;
  }
}

