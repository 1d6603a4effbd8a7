/**
 * Deterministic CBOR (RFC 8949 §4.2.1 core deterministic encoding, restricted to the
 * values Realize stores): maps have their keys sorted (shorter first, then bytewise),
 * integers always take their shortest integer form (never a float), byte strings are
 * plain major type 2, and no cbor-x extensions (records, typed-array tags) are used.
 * The same value therefore always encodes to the same bytes.
 */
import { Encoder } from 'cbor-x';
import { LogError } from './log-error.js';

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  // Maps are handed to the encoder as Map objects (see canonical()); write them as plain
  // CBOR maps, not wrapped in tag 259.
  useTag259ForMaps: false,
  tagUint8Array: false,
  pack: false,
  structuredClone: false,
  int64AsNumber: true,
} as ConstructorParameters<typeof Encoder>[0] & { int64AsNumber: boolean });

export type CborValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | readonly CborValue[]
  | { readonly [key: string]: CborValue | undefined };

function keyOrder(a: string, b: string): number {
  const la = Buffer.byteLength(a);
  const lb = Buffer.byteLength(b);
  if (la !== lb) return la - lb;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The sorted key order of each object shape seen, by its keys in insertion order. Events
 * come in a handful of shapes, so sorting happens once per shape, not once per event.
 * `plain` says whether an object may carry the order itself: no key is integer-like (those
 * an object lists first whatever the order of insertion) or "__proto__".
 */
const shapes = new Map<string, { readonly keys: readonly string[]; readonly plain: boolean }>();

function shapeOf(keys: readonly string[]): { readonly keys: readonly string[]; readonly plain: boolean } {
  const id = keys.join('\0');
  let shape = shapes.get(id);
  if (shape === undefined) {
    const sorted = [...keys].sort(keyOrder);
    shape = { keys: sorted, plain: sorted.every((k) => k !== '__proto__' && !/^(0|[1-9][0-9]*)$/.test(k)) };
    if (shapes.size < 4096) shapes.set(id, shape);
  }
  return shape;
}

function canonical(value: unknown): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) {
      throw new LogError('MALFORMED_ENTRY', `only safe integers may be encoded, got ${value}`);
    }
    // cbor-x writes integers beyond 32 bits as float64; a BigInt becomes a CBOR uint64/nint64.
    return value > 0xffffffff || value < -0x100000000 ? BigInt(value) : value;
  }
  if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object') {
    // A Map, not an object: a JavaScript object lists integer-like keys ("10") before all
    // others whatever order they are inserted in, and assigning "__proto__" sets the
    // prototype instead of a key, so an object cannot carry the sorted order faithfully.
    const obj = value as Record<string, unknown>;
    const shape = shapeOf(Object.keys(obj).filter((k) => obj[k] !== undefined));
    if (shape.plain) {
      const out: Record<string, unknown> = {};
      for (const k of shape.keys) out[k] = canonical(obj[k]);
      return out;
    }
    return new Map(shape.keys.map((k) => [k, canonical(obj[k])]));
  }
  throw new LogError('MALFORMED_ENTRY', `cannot encode a value of type ${typeof value}`);
}

export function encodeCanonical(value: CborValue): Buffer {
  return encoder.encode(canonical(value));
}

export function decodeCbor(bytes: Uint8Array): unknown {
  return encoder.decode(bytes as Buffer);
}
