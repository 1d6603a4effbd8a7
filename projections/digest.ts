/**
 * Digests of projection rows: canonical CBOR of each [key, value] pair, in key order; rows
 * keyed by local inode numbers are digested with their keys named by node id (digestRows).
 */
import { createHash, type Hash } from 'node:crypto';
import type { Database, Key } from 'lmdb';
import { encodeCanonical, type CborValue } from '../log/index.js';

function plain(v: unknown): CborValue {
  if (v === undefined) return null;
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return v as CborValue;
  if (Array.isArray(v)) return v.map(plain);
  const out: Record<string, CborValue> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = plain(x);
  return out;
}

export function digestDb(h: Hash, name: string, db: Database<unknown, Key>): void {
  h.update(encodeCanonical(['db', name]));
  for (const { key, value } of db.getRange()) h.update(encodeCanonical([plain(key), plain(value)]));
}

export function newDigest(): Hash {
  return createHash('sha256');
}

/** Rows given as lists (history.ts digestRows: keys named by node ids, not local numbers), in the order given. */
export function digestRows(h: Hash, name: string, rows: Iterable<readonly unknown[]>): void {
  h.update(encodeCanonical(['db', name]));
  for (const row of rows) h.update(encodeCanonical(plain(row)));
}
