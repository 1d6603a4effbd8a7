/**
 * Unsigned varints (7 bits a byte, low first, the high bit set on all but the last) of the
 * packed rows (entry-records.ts, touches.ts) and of the row codec's writer.
 */

/** Writes `x` (a non-negative integer) into `out` at `at`; where it ends. `out` has room for 10 bytes there. */
export function writeVarint(out: Uint8Array, at: number, x: number): number {
  // Past 31 bits by division (a float's remainder is a call to fmod), then by shifts.
  while (x > 0x7fffffff) {
    out[at++] = (x % 128) | 128;
    x = Math.floor(x / 128);
  }
  let v = x | 0;
  while (v >= 128) {
    out[at++] = (v & 127) | 128;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** The varint of `buf` at `at`: [value, where it ends]; past the end reads as 0 (a cut row ends a scan). */
export function readVarint(buf: Uint8Array, at: number): [number, number] {
  let x = 0;
  for (let scale = 1; ; scale *= 128) {
    const b = buf[at++] ?? 0;
    x += (b & 127) * scale;
    if (b < 128) return [x, at];
  }
}
