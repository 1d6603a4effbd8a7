/**
 * One LMDB row per entry instead of one per (entry, node): the records an entry adds for the
 * nodes it names (touches.ts: the kinds of its events, and the commits it made), packed in key order:
 *
 *   [S u32 LE][S offsets u32 LE: where records 0, STRIDE, 2 STRIDE, ... start]
 *   ([key length varint][key][value length varint][value])...
 *
 * A row per (entry, node) cost LMDB's 8-byte node header, its 2-byte slot and a 21-byte key
 * each: more than most values. A point read is a read of the entry's row, a binary search of
 * its sparse offsets and a scan of at most STRIDE records.
 */

import { readVarint, writeVarint } from './varint.js';

const STRIDE = 16;

/** The records packed, in key order (keys are distinct). */
export function packRecords(records: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>): Buffer {
  const sorted = [...records].sort((a, b) => Buffer.compare(a.key, b.key));
  const sparse = Math.ceil(sorted.length / STRIDE);
  let bytes = 4 + 4 * sparse;
  for (const r of sorted) bytes += 10 + r.key.byteLength + r.value.byteLength;
  const out = Buffer.allocUnsafe(bytes);
  out.writeUInt32LE(sparse, 0);
  let at = 4 + 4 * sparse;
  sorted.forEach(({ key, value }, i) => {
    if (i % STRIDE === 0) out.writeUInt32LE(at, 4 + 4 * (i / STRIDE));
    at = writeVarint(out, at, key.byteLength);
    out.set(key, at);
    at += key.byteLength;
    at = writeVarint(out, at, value.byteLength);
    out.set(value, at);
    at += value.byteLength;
  });
  return out.subarray(0, at);
}

/** The value of `key` in a packed row (a view into it), or undefined. */
export function findRecord(row: Uint8Array | undefined, key: Uint8Array): Buffer | undefined {
  // `length`, not `byteLength`: lmdb-js's getBinaryFast hands back its shared read buffer with
  // `length` set to the value's size; its byteLength is the whole buffer, stale bytes past the row.
  if (row === undefined || row.length < 4) return undefined;
  const buf = Buffer.from(row.buffer, row.byteOffset, row.length);
  const sparse = buf.readUInt32LE(0);
  if (4 + 4 * sparse > buf.length) return undefined;
  // The last stride whose first key is at or before `key`.
  let lo = 0;
  let hi = sparse - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    const [klen, k] = readVarint(buf, buf.readUInt32LE(4 + 4 * mid));
    if (buf.compare(key, 0, key.byteLength, k, k + klen) <= 0) lo = mid;
    else hi = mid - 1;
  }
  if (sparse === 0) return undefined;
  let at = buf.readUInt32LE(4 + 4 * lo);
  for (let i = 0; i < STRIDE && at < buf.length; i++) {
    const [klen, k] = readVarint(buf, at);
    const cmp = buf.compare(key, 0, key.byteLength, k, k + klen);
    const [vlen, v] = readVarint(buf, k + klen);
    if (cmp === 0) return buf.subarray(v, v + vlen);
    // Keys are in order: past where `key` would be, it is not there.
    if (cmp > 0) return undefined;
    at = v + vlen;
  }
  return undefined;
}
