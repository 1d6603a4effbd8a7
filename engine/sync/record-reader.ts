/**
 * Cutting a byte stream into length-prefixed records without copying more than once: chunks
 * are kept as they arrive and a record is assembled only when all of it is there.
 */
import { SyncError } from './sync-error.js';

export class RecordReader {
  readonly #chunks: Buffer[] = [];
  #length = 0;

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

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.byteLength >= n) {
      const out = first.subarray(0, n);
      if (first.byteLength === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#length -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
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
   * The next record behind a `prefixBytes`-byte big-endian length (2 or 4), with its prefix,
   * or null until all of it has arrived. A length over `max` is refused at once, before its
   * bytes are waited for.
   */
  next(prefixBytes: 2 | 4, max: number, what: string): { prefix: Buffer; body: Buffer } | null {
    if (this.#length < prefixBytes) return null;
    const prefix = this.#peek(prefixBytes);
    const len = prefixBytes === 2 ? prefix.readUInt16BE(0) : prefix.readUInt32BE(0);
    if (len > max) throw new SyncError('FRAME_TOO_LARGE', `a ${what} of ${len} bytes was announced; the limit is ${max}`);
    if (len === 0) throw new SyncError('PROTOCOL', `an empty ${what}`);
    if (this.#length < prefixBytes + len) return null;
    const head = Buffer.from(this.#take(prefixBytes));
    return { prefix: head, body: this.#take(len) };
  }
}
