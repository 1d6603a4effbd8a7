/**
 * Digests of projection rows: every row's stored bytes (key, then value, each led by its
 * length), in key order. Rebuild equals incremental byte for byte, so the stored bytes are
 * what is compared; reading them raw (a second, binary handle on the same sub-database)
 * costs no decoding of rows and no encoding again (about 0.3 s less per digest of the
 * model bench's 40k-event store than a canonical CBOR form of each decoded row).
 */
import { createHash, type Hash } from 'node:crypto';
import type { Database, Key, RootDatabase } from 'lmdb';
import { encodeCanonical } from '../log/index.js';

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
