/**
 * Buffers for large frames, reused instead of allocated per frame: the plaintext of a received
 * frame is opened into one (aead.ts Opener.open's `into`), a frame to send is sealed into one
 * (Sealer.sealInto), and each goes back to its pool once nothing reads it any more.
 *
 * Why: node:crypto's update allocates its output twice (the second zero-filled and copied
 * into) and V8 counts every new buffer against the heap that made it. Streaming an Unreal file,
 * a fresh 2 MiB plaintext per received message, held until its blocks were read and written,
 * started a scavenge every ~14 MB and a full collection every ~60 MB of the receiving heap
 * (--trace-gc: about 73 and 17 per GiB), and the serving peer moved each sealed block to the
 * block hasher's worker to be freed there. A pooled buffer is allocated once; what update
 * allocates per chunk (64 KiB) dies young, in the turn that copied it out.
 *
 * Once no buffer was taken for a while (block-files.ts IdleTrim), the pool lets go of all but
 * `keepIdleBytes` of what it keeps, so a stream's buffers do not stay resident for good.
 *
 * A buffer taken and never given back is only collected, as any other: givers give back only
 * when no view of it is read again (a received message whose blocks went to the block store
 * gives it back through the message's FrameLease; others are left to the collector).
 */
import { IdleTrim } from '../block-files.js';

/** Buffers are handed out in sizes rounded up to this (a `blocks` message of 16 blocks takes one class). */
const CLASS_BYTES = 256 * 1024;

export class FramePool {
  readonly #shared: boolean;
  readonly #maxFree: number;
  readonly #keepIdle: number;
  readonly #idle: IdleTrim;
  readonly #free = new Map<number, ArrayBufferLike[]>();
  #freeBytes = 0;
  /** Buffers this pool made (a buffer given back must be one of them). */
  readonly #mine = new WeakSet<ArrayBufferLike>();
  /** Buffers made and reused, since start (tests, bench). */
  readonly stats = { made: 0, reused: 0 };

  /**
   * `shared`: SharedArrayBuffers (the block hasher's worker reads them where they lie); else
   * ArrayBuffers. At most `maxFreeBytes` are kept for reuse, `keepIdleBytes` (default none)
   * once the pool has been idle for `idleMs` (default 2 s).
   */
  constructor(opts: { shared: boolean; maxFreeBytes: number; keepIdleBytes?: number; idleMs?: number; setTimer?: (fn: () => void, ms: number) => void }) {
    this.#shared = opts.shared;
    this.#maxFree = opts.maxFreeBytes;
    this.#keepIdle = opts.keepIdleBytes ?? 0;
    this.#idle = new IdleTrim(() => this.#freeBytes > this.#keepIdle, () => this.#trim(), opts);
  }

  /** Lets go of kept buffers (the collector takes them) down to `keepIdleBytes`. */
  #trim(): void {
    for (const [size, list] of this.#free) {
      while (list.length > 0 && this.#freeBytes > this.#keepIdle) {
        list.pop();
        this.#freeBytes -= size;
      }
      if (list.length === 0) this.#free.delete(size);
    }
  }

  /** A buffer of at least `n` bytes (its first `n` as a Buffer; `.buffer` is the pooled one). */
  take(n: number): Buffer {
    const size = Math.ceil(n / CLASS_BYTES) * CLASS_BYTES;
    const list = this.#free.get(size);
    let ab = list?.pop();
    this.#idle.taken();
    if (ab !== undefined) {
      this.#freeBytes -= size;
      this.stats.reused++;
    } else {
      ab = this.#shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
      this.#mine.add(ab);
      this.stats.made++;
    }
    return Buffer.from(ab, 0, n);
  }

  /** Whether `buffer` is one of this pool's. */
  owns(buffer: ArrayBufferLike): boolean {
    return this.#mine.has(buffer);
  }

  /** Gives a buffer back: nothing may read or write any view of it after this. */
  give(buffer: ArrayBufferLike): void {
    if (!this.#mine.has(buffer) || buffer.byteLength === 0) return;
    const size = buffer.byteLength;
    if (this.#freeBytes + size > this.#maxFree) return; // left to the collector
    let list = this.#free.get(size);
    if (list === undefined) this.#free.set(size, (list = []));
    if (list.includes(buffer)) return; // given back twice: keep it once
    list.push(buffer);
    this.#freeBytes += size;
    this.#idle.given();
  }

  /** Bytes kept for reuse. */
  get freeBytes(): number {
    return this.#freeBytes;
  }
}

/** Frames at least this large go through the pools (smaller: node:crypto's own buffers). */
export const POOLED_FRAME_BYTES = 512 * 1024;

/**
 * Plaintexts of received frames (shared memory: the block hasher reads their blocks where they
 * lie). Kept: what a stream holds in flight (read-ahead of 32 MiB, records waiting for their
 * write, messages queued).
 */
export const receivedFrames = new FramePool({ shared: true, maxFreeBytes: 128 * 1024 * 1024 });

/** Sealed frames being sent (shared memory: the block hasher's worker seals into them), given back once the socket wrote them. */
export const sentFrames = new FramePool({ shared: true, maxFreeBytes: 32 * 1024 * 1024 });
