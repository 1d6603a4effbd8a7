/** Turns log values into plain JSON: short byte strings as hex, long ones as a size. */
export function jsonValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return v.byteLength <= 64 ? Buffer.from(v).toString('hex') : `<${v.byteLength} bytes>`;
  if (Array.isArray(v)) return v.map(jsonValue);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)]));
  }
  return v;
}
