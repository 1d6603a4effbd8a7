/**
 * A content version's name: SHA-256("realize/version/v1\0" || size as u64 BE || block hashes...).
 * Apart from content.ts so the row codec can name a committed branch's version from its blocks.
 */
import { hash } from 'node:crypto';

const VERSION_TAG = Buffer.from('realize/version/v1\0');

/** Versions this process made by hashing (a branch row's version, when it is one of these, is its blocks' hash). */
const hashed = new WeakSet<Uint8Array>();

export function versionHash(size: number, blocks: Uint8Array): Uint8Array {
  // One buffer and one-shot hashing: a rebuild hashes every commit, and createHash's
  // per-call setup cost several times the hashing of these few bytes.
  const buf = Buffer.allocUnsafe(VERSION_TAG.byteLength + 8 + blocks.byteLength);
  VERSION_TAG.copy(buf, 0);
  // The size as u64 BE in two halves (no BigInt made per commit); anything but a size as before.
  if (!Number.isSafeInteger(size) || size < 0) buf.writeBigUInt64BE(BigInt(size), VERSION_TAG.byteLength);
  else {
    buf.writeUInt32BE(Math.floor(size / 0x100000000), VERSION_TAG.byteLength);
    buf.writeUInt32BE(size >>> 0, VERSION_TAG.byteLength + 4);
  }
  buf.set(blocks, VERSION_TAG.byteLength + 8);
  const out = hash('sha256', buf, 'buffer');
  hashed.add(out);
  return out;
}

/** True when `version` is a hash versionHash made (of some size and blocks: the caller knows which). */
export function madeByVersionHash(version: Uint8Array): boolean {
  return hashed.has(version);
}
