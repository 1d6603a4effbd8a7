/**
 * Digests of projection rows, in key order. A sub-database's rows are digested as their stored
 * bytes (key, then value, each led by its length): rebuild equals incremental byte for byte, and
 * reading them raw (a second, binary handle on the same sub-database) costs no decoding of rows
 * and no encoding again (about 0.3 s less per digest of the model bench's 40k-event store than a
 * canonical CBOR form of each decoded row). Rows keyed by local inode numbers are digested as
 * canonical CBOR with their keys named by node id instead (digestRows), so peers that numbered
 * their nodes differently still agree.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Database, Key, RootDatabase } from 'lmdb';
import { encodeCanonical, type CborValue } from '../log/index.js';

function plain(v: unknown): CborValue {
  if (v === undefined) return null;
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return v as CborValue;
  if (Array.isArray(v)) return v.map(plain);
  const out: Record<string, CborValue> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = plain(x);
  return out;
}

/** The binary handle of each sub-database digested. */
const rawHandles = new WeakMap<Database<unknown, Key>, Database<Uint8Array, Uint8Array>>();

export function digestDb(h: Hash, env: RootDatabase, name: string, db: Database<unknown, Key>): void {
  h.update(encodeCanonical(['db', name]));
  let raw = rawHandles.get(db);
  if (raw === undefined) {
    raw = env.openDB<Uint8Array, Uint8Array>({ name: (db as unknown as { name: string }).name, encoding: 'binary', keyEncoding: 'binary' });
    rawHandles.set(db, raw);
  }
  // Each key and value led by its length (4 bytes each, big-endian), so no two row sets hash alike.
  const len = Buffer.allocUnsafe(8);
  for (const { key, value } of raw.getRange()) {
    len.writeUInt32BE(key.byteLength, 0);
    len.writeUInt32BE(value.byteLength, 4);
    h.update(len);
    h.update(key);
    h.update(value);
  }
}

export function newDigest(): Hash {
  return createHash('sha256');
}

/** Rows given as lists (history.ts digestRows: keys named by node ids, not local numbers), in the order given. */
export function digestRows(h: Hash, name: string, rows: Iterable<readonly unknown[]>): void {
  h.update(encodeCanonical(['db', name]));
  for (const row of rows) h.update(encodeCanonical(plain(row)));
}
