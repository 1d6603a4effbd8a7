/**
 * Cutting a byte stream into length-prefixed records without copying more than once: chunks
 * are kept as they arrive and a record is assembled only when all of it is there.
 */
import { copyBytes } from '../copy-bytes.js';
import { SyncError } from './sync-error.js';

export class RecordReader {
  readonly #chunks: Buffer[] = [];
  #length = 0;
  /** Where records that span chunks are assembled when the caller lends it (next's `reuse`). */
  #scratch: Buffer | null = null;

  push(chunk: Buffer): void {
    if (chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.#length += chunk.byteLength;
  }

  /** Bytes held that no record has taken yet. */
  get buffered(): number {
    return this.#length;
  }

  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.byteLength >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    for (const c of this.#chunks) {
      const take = Math.min(c.byteLength, n - at);
      c.copy(out, at, 0, take);
      at += take;
      if (at === n) break;
    }
    return out;
  }

  #take(n: number, reuse = false): Buffer {
    const first = this.#chunks[0]!;
    if (first.byteLength >= n) {
      const out = first.subarray(0, n);
      if (first.byteLength === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#length -= n;
      return out;
    }
    let out: Buffer;
    if (reuse) {
      if (this.#scratch === null || this.#scratch.byteLength < n) this.#scratch = Buffer.allocUnsafeSlow(Math.ceil(n / 65536) * 65536);
      out = this.#scratch.subarray(0, n);
    } else {
      out = Buffer.allocUnsafe(n);
    }
    let at = 0;
    while (at < n) {
      const c = this.#chunks[0]!;
      const take = Math.min(c.byteLength, n - at);
      c.copy(out, at, 0, take);
      at += take;
      if (take === c.byteLength) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#length -= n;
    return out;
  }

  /**
   * The length the next record's `prefixBytes`-byte prefix announces, or null until the prefix
   * has arrived; refused as next() refuses it (over `max`, or empty). Nothing is taken.
   */
  peekLength(prefixBytes: 2 | 4, max: number, what: string): number | null {
    if (this.#length < prefixBytes) return null;
    const prefix = this.#peek(prefixBytes);
    const len = prefixBytes === 2 ? prefix.readUInt16BE(0) : prefix.readUInt32BE(0);
    if (len > max) throw new SyncError('FRAME_TOO_LARGE', `a ${what} of ${len} bytes was announced; the limit is ${max}`);
    if (len === 0) throw new SyncError('PROTOCOL', `an empty ${what}`);
    return len;
  }

  /** Takes the next `n` bytes (at most what is held) into `target` from `at`; returns how many. */
  takeInto(target: Uint8Array, at: number, n: number): number {
    const want = Math.min(n, this.#length);
    let done = 0;
    while (done < want) {
      const c = this.#chunks[0]!;
      const k = Math.min(c.byteLength, want - done);
      copyBytes(target, k === c.byteLength ? c : c.subarray(0, k), at + done);
      done += k;
      if (k === c.byteLength) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#length -= want;
    return want;
  }

  /** Takes the next `n` bytes (held: see peekLength) as a buffer of their own. */
  takeOwn(n: number): Buffer {
    return Buffer.from(this.#take(n));
  }

  /**
   * Copies what is still held of `buffer` (chunks pushed as views of it, which its owner is
   * about to reuse) into memory of the reader's own.
   */
  own(buffer: ArrayBufferLike): void {
    for (let i = 0; i < this.#chunks.length; i++) {
      const c = this.#chunks[i]!;
      if (c.buffer === buffer) this.#chunks[i] = Buffer.from(c);
    }
  }

  /**
   * The next record behind a `prefixBytes`-byte big-endian length (2 or 4), with its prefix,
   * or null until all of it has arrived. A length over `max` is refused at once, before its
   * bytes are waited for. With `reuse` the body may be assembled in a buffer the next call
   * overwrites: the caller must be done with it (sealed frames: opening copies them out)
   * before asking again; this saves an allocation and a GC's worth of memory per frame.
   */
  next(prefixBytes: 2 | 4, max: number, what: string, reuse = false): { prefix: Buffer; body: Buffer } | null {
    if (this.#length < prefixBytes) return null;
    const prefix = this.#peek(prefixBytes);
    const len = prefixBytes === 2 ? prefix.readUInt16BE(0) : prefix.readUInt32BE(0);
    if (len > max) throw new SyncError('FRAME_TOO_LARGE', `a ${what} of ${len} bytes was announced; the limit is ${max}`);
    if (len === 0) throw new SyncError('PROTOCOL', `an empty ${what}`);
    if (this.#length < prefixBytes + len) return null;
    const head = Buffer.from(this.#take(prefixBytes));
    return { prefix: head, body: this.#take(len, reuse) };
  }
}
