/** Small byte helpers shared by the log. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new TypeError(`not a hex string: ${hex.slice(0, 16)}`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).compare(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** 1 at the char codes of '0'-'9' and 'a'-'f' (lower case only). */
const LOWER_HEX = new Uint8Array(65536);
for (let c = 48; c <= 57; c++) LOWER_HEX[c] = 1;
for (let c = 97; c <= 102; c++) LOWER_HEX[c] = 1;

/**
 * True when `s` holds `count` lower-case hex digits from `from` on. A table and a loop: about
 * 3x faster than a regular expression's test here, and a rebuild asks it of every id it meets.
 */
export function hexDigitsAt(s: string, from: number, count: number): boolean {
  if (s.length < from + count) return false;
  let ok = 1;
  for (let i = from; i < from + count; i++) ok &= LOWER_HEX[s.charCodeAt(i)]!;
  return ok === 1;
}

/** True when `s` is a node id: exactly 32 lower-case hex digits. */
export function isHexId(s: string): boolean {
  return s.length === 32 && hexDigitsAt(s, 0, 32);
}
