/**
 * Random bytes drawn from a pool refilled 4 KiB at a time: a node id (16 bytes, one per file
 * a create makes) was one randomBytes call each, a few microseconds of the JS thread apiece.
 * Every byte is handed out once and zeroed in the pool as it is; larger requests go straight
 * to the system's generator.
 */
import { randomBytes } from 'node:crypto';

const POOL_BYTES = 4096;
const LARGEST = 256;

export function pooledRandom(): (n: number) => Uint8Array {
  let pool: Buffer = Buffer.alloc(0);
  let at = 0;
  return (n) => {
    if (n > LARGEST) return new Uint8Array(randomBytes(n));
    if (at + n > pool.byteLength) {
      pool = randomBytes(POOL_BYTES);
      at = 0;
    }
    const out = new Uint8Array(n);
    out.set(pool.subarray(at, at + n));
    pool.fill(0, at, at + n);
    at += n;
    return out;
  };
}
