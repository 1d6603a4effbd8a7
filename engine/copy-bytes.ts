/**
 * Copying bytes to or from shared memory (SharedArrayBuffers: the pooled buffers received
 * frames are opened into, the write cache's) at memcpy's speed.
 *
 * Why: V8 copies a typed array whose buffer is shared (set, and so Buffer#copy) with a relaxed
 * atomic copy, word by word, since another thread may write it meanwhile. On memory that is
 * not in the CPU's caches (a streamed file's blocks, read a moment after they came) that took
 * 2-4x memcpy's time: measured streaming an Unreal file, the reads' copies out of received
 * messages cost the event loop 0.36 CPU-s a GiB instead of about 0.1. Buffer#fill with a
 * buffer as long as the range it fills is one memcpy in Node's C++.
 */
import { Buffer } from 'node:buffer';

const fill = Buffer.prototype.fill;

/** Copies all of `source` into `target` from `at` (which must hold it); returns where it ended. */
export function copyBytes(target: Uint8Array, source: Uint8Array, at: number): number {
  const n = source.byteLength;
  if (n === 0) return at;
  if (at + n > target.byteLength) throw new RangeError(`${n} bytes do not fit in ${target.byteLength - at}`);
  fill.call(target, source, at, at + n);
  return at + n;
}
