/**
 * Helpers of the block store: the cache of open pack file handles (bounded, reference
 * counted, so a handle is never closed under a read), a byte-bounded LRU of decoded blocks,
 * and a promise-chain mutex.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { packFileName } from './block-pack.js';

interface Handle {
  readonly fh: Promise<FileHandle>;
  refs: number;
  retired: boolean;
}

export class PackFiles {
  readonly #dir: string;
  readonly #max: number;
  readonly #mode: string;
  /** Packs the caller must keep open (being written, or written and not yet synced). */
  readonly #pinned: (n: number) => boolean;
  readonly #map = new Map<number, Handle>();
  readonly #gone = new Set<number>();

  constructor(dir: string, opts: { max: number; readOnly: boolean; pinned: (n: number) => boolean }) {
    this.#dir = dir;
    this.#max = Math.max(2, opts.max);
    this.#mode = opts.readOnly ? 'r' : 'r+';
    this.#pinned = opts.pinned;
  }

  path(n: number): string {
    return join(this.#dir, packFileName(n));
  }

  /** Creates pack `n` (it must not exist) and keeps its handle. */
  async create(n: number): Promise<void> {
    const fh = open(this.path(n), 'wx+');
    const h: Handle = { fh, refs: 0, retired: false };
    this.#map.set(n, h);
    try {
      await fh;
    } catch (err) {
      if (this.#map.get(n) === h) this.#map.delete(n);
      throw err;
    }
  }

  /** Runs `fn` with the handle of pack `n`, opening it if needed. */
  async with<T>(n: number, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    if (this.#gone.has(n)) {
      throw Object.assign(new Error(`${this.path(n)} was deleted by gc`), { code: 'ENOENT' });
    }
    let h = this.#map.get(n);
    if (h === undefined) {
      h = { fh: open(this.path(n), this.#mode), refs: 0, retired: false };
      this.#map.set(n, h);
      h.refs++;
      this.#evict();
    } else {
      this.#map.delete(n); // most recently used goes last
      this.#map.set(n, h);
      h.refs++;
    }
    try {
      let fh: FileHandle;
      try {
        fh = await h.fh;
      } catch (err) {
        if (this.#map.get(n) === h) this.#map.delete(n);
        throw err;
      }
      return await fn(fh);
    } finally {
      h.refs--;
      if (h.retired && h.refs === 0) await closeQuietly(h);
    }
  }

  /** The pack was deleted: close its handle once no read uses it, and never open it again. */
  retire(n: number): void {
    this.#gone.add(n);
    const h = this.#map.get(n);
    if (h === undefined) return;
    this.#map.delete(n);
    h.retired = true;
    if (h.refs === 0) void closeQuietly(h);
  }

  async closeAll(): Promise<void> {
    const all = [...this.#map.values()];
    this.#map.clear();
    for (const h of all) {
      h.retired = true;
      if (h.refs === 0) await closeQuietly(h);
    }
  }

  #evict(): void {
    if (this.#map.size <= this.#max) return;
    for (const [n, h] of this.#map) {
      if (this.#map.size <= this.#max) return;
      if (h.refs > 0 || this.#pinned(n)) continue;
      this.#map.delete(n);
      h.retired = true;
      void closeQuietly(h);
    }
  }
}

async function closeQuietly(h: Handle): Promise<void> {
  try {
    await (await h.fh).close();
  } catch {
    // opening failed, or it is closed already
  }
}

/** Decoded blocks by hash (hex), least recently used first out, bounded in bytes. */
export class BlockCache {
  readonly #max: number;
  readonly #map = new Map<string, Buffer>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#max = maxBytes;
  }

  get(key: string): Buffer | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  set(key: string, v: Buffer): void {
    if (v.byteLength > this.#max) return;
    this.delete(key);
    this.#map.set(key, v);
    this.#bytes += v.byteLength;
    for (const [k, old] of this.#map) {
      if (this.#bytes <= this.#max) break;
      this.#map.delete(k);
      this.#bytes -= old.byteLength;
    }
  }

  delete(key: string): void {
    const v = this.#map.get(key);
    if (v === undefined) return;
    this.#map.delete(key);
    this.#bytes -= v.byteLength;
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }
}

/**
 * A pool's idle check: once the pool holds more spare buffers than it keeps when idle
 * (`over`), `trim` runs after `idleMs` without a take (still busy then: it looks again later),
 * so a burst's buffers do not stay resident for good.
 */
export class IdleTrim {
  readonly #idleMs: number;
  readonly #setTimer: (fn: () => void, ms: number) => void;
  readonly #over: () => boolean;
  readonly #trim: () => void;
  #due = false;
  #takenSinceTimer = false;

  constructor(over: () => boolean, trim: () => void, opts: { readonly idleMs?: number; readonly setTimer?: (fn: () => void, ms: number) => void } = {}) {
    this.#over = over;
    this.#trim = trim;
    this.#idleMs = opts.idleMs ?? 2000;
    this.#setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref());
  }

  /** The pool handed a buffer out. */
  taken(): void {
    this.#takenSinceTimer = true;
  }

  /** The pool took a buffer back: arms the check when it now holds more than it keeps idle. */
  given(): void {
    if (this.#over() && !this.#due) this.#arm();
  }

  #arm(): void {
    this.#due = true;
    this.#takenSinceTimer = false;
    this.#setTimer(() => {
      this.#due = false;
      if (this.#takenSinceTimer) {
        if (this.#over()) this.#arm();
        return;
      }
      this.#trim();
    }, this.#idleMs);
  }
}

/**
 * Whole-block buffers, reused: the write cache takes one per dirty block and hands it to the
 * block store with the block (putMany `owned`), which gives it back once the record is in its
 * pack. A 1 GiB write passes 8,192 blocks through; fresh 128 KiB buffers for each cost page
 * faults, GC work and, with glibc keeping freed chunks, memory that grew with every write.
 * With `shared`, each buffer lies in a SharedArrayBuffer of its own, so the block hasher's
 * worker (block-hasher.ts hashViews) can read it where it is, neither copied nor moved.
 * The pool keeps up to `max` buffers while they are in use and, once no buffer was taken for
 * `idleMs`, lets go of all but `keepIdle` (a burst's buffers do not stay resident for good).
 */
export class BufferPool {
  readonly #size: number;
  readonly #max: number;
  readonly #shared: boolean;
  readonly #keepIdle: number;
  readonly #idle: IdleTrim;
  readonly #free: Buffer[] = [];
  /** Holders of each buffer out of the pool: it comes back when the last one gives it. */
  readonly #refs = new Map<ArrayBufferLike, number>();

  constructor(size: number, max: number, opts: BufferPoolOptions = {}) {
    this.#size = size;
    this.#max = max;
    this.#shared = opts.shared === true;
    this.#keepIdle = Math.min(max, opts.keepIdle ?? max);
    this.#idle = new IdleTrim(
      () => this.#free.length > this.#keepIdle,
      () => void (this.#free.length = Math.min(this.#free.length, this.#keepIdle)),
      opts,
    );
  }

  /** Bytes of each buffer. */
  get size(): number {
    return this.#size;
  }

  /** Buffers waiting in the pool. */
  get free(): number {
    return this.#free.length;
  }

  /** A buffer of the pool's size, held once by the caller. */
  take(): Buffer {
    // allocUnsafeSlow: an ArrayBuffer of its own, never a slice of Node's shared slab (buffers are told apart by it).
    const b = this.#free.pop() ?? (this.#shared ? Buffer.from(new SharedArrayBuffer(this.#size)) : Buffer.allocUnsafeSlow(this.#size));
    this.#refs.set(b.buffer, 1);
    this.#idle.taken();
    return b;
  }

  /** One more holder of a buffer from take() (or a view of one); others are ignored. */
  hold(buf: Uint8Array): void {
    const n = this.#refs.get(buf.buffer);
    if (n !== undefined) this.#refs.set(buf.buffer, n + 1);
  }

  /** A holder gives its buffer back (or a view of it); the last one returns it to the pool. */
  give(buf: Uint8Array): void {
    const n = this.#refs.get(buf.buffer);
    if (n === undefined) return;
    if (n > 1) {
      this.#refs.set(buf.buffer, n - 1);
      return;
    }
    this.#refs.delete(buf.buffer);
    if (this.#free.length < this.#max) this.#free.push(Buffer.from(buf.buffer, 0, this.#size));
    this.#idle.given();
  }
}

export interface BufferPoolOptions {
  /** Buffers in SharedArrayBuffers (see BufferPool). */
  readonly shared?: boolean;
  /** Buffers kept once the pool has been idle (default: max). */
  readonly keepIdle?: number;
  /** Milliseconds without a take after which the pool is idle (default 2,000). */
  readonly idleMs?: number;
  /** Schedules the idle check (default: an unref'd setTimeout). */
  readonly setTimer?: (fn: () => void, ms: number) => void;
}

/** Runs functions one at a time, in call order. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const r = this.#tail.then(fn);
    this.#tail = r.catch(() => undefined);
    return r;
  }
}
