/**
 * One LMDB row per entry instead of one per (entry, node): the records an entry adds for the
 * nodes it names (touches.ts, history.ts EntryRows), packed in key order:
 *
 *   ([key length varint][key][value length varint][value])...
 *
 * A row per (entry, node) cost LMDB's 8-byte node header, its 2-byte slot and a 21-byte key
 * each: more than most values. A point read is a read of the entry's row and a scan of it.
 */

function writeVarint(out: Buffer, at: number, x: number): number {
  while (x >= 128) {
    out[at++] = (x & 127) | 128;
    x = Math.floor(x / 128);
  }
  out[at++] = x;
  return at;
}

/** The records packed, in key order (keys are distinct). */
export function packRecords(records: ReadonlyArray<{ readonly key: Uint8Array; readonly value: Uint8Array }>): Buffer {
  const sorted = [...records].sort((a, b) => Buffer.compare(a.key, b.key));
  let bytes = 0;
  for (const r of sorted) bytes += 10 + r.key.byteLength + r.value.byteLength;
  const out = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const { key, value } of sorted) {
    at = writeVarint(out, at, key.byteLength);
    out.set(key, at);
    at += key.byteLength;
    at = writeVarint(out, at, value.byteLength);
    out.set(value, at);
    at += value.byteLength;
  }
  return out.subarray(0, at);
}

/** The value of `key` in a packed row (a view into it), or undefined. */
export function findRecord(row: Uint8Array | undefined, key: Uint8Array): Buffer | undefined {
  if (row === undefined) return undefined;
  const buf = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
  let at = 0;
  const varint = (): number => {
    let x = 0;
    for (let scale = 1; ; scale *= 128) {
      // Past the end reads as 0: a cut row ends the scan.
      const b = buf[at++] ?? 0;
      x += (b & 127) * scale;
      if (b < 128) return x;
    }
  };
  while (at < buf.length) {
    const klen = varint();
    const cmp = buf.compare(key, 0, key.byteLength, at, at + klen);
    at += klen;
    const vlen = varint();
    if (cmp === 0) return buf.subarray(at, at + vlen);
    // Keys are in order: past where `key` would be, it is not there.
    if (cmp > 0) return undefined;
    at += vlen;
  }
  return undefined;
}
