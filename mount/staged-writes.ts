/**
 * Writes the patched fuse-native answers on its own FUSE threads (staged) and hands to JS in
 * batches, instead of a round trip through the JS thread per request: dd bs=4k makes 262,144
 * write requests a GiB, and the round trip, not the copy, was their cost; a writer of 1 MiB
 * requests no longer waits while the JS thread hashes and stores the blocks of a flush (up to
 * the native side's 16 MiB buffer).
 *
 * A staged write is acknowledged before JS has seen it, so taking it in must never fail nor
 * wait: the native side stages a write only at or past its handle's window, which is set here
 * to the write cache's appendFrom (every block from there on is in memory or past the end:
 * nothing to read first). The write cache lets blocks leave memory only inside `exclusive`
 * (every staged write taken in first, none staged meanwhile) and then says which file's
 * windows to move (onShrink). A truncate closes the file's windows while it runs. Every
 * request the native side hands to JS takes the staged writes in first, so reads, stat, fsync
 * and close see them. While the write cache is over its bound, staging is off: writes take the
 * round trip again and wait there for flushes, as before.
 */
import Fuse from 'fuse-native';
import type { NodeId, WriteCache } from '../engine/index.js';
import type { FdTable, OpenFile } from './fd-table.js';

const FIELDS = 5;
/**
 * The native side wakes JS once a batch is waiting (1 MiB or 256 writes), and every request
 * JS is handed takes what waits first; this timer takes a smaller batch in that waits alone
 * (the write cache's rest period then starts from it).
 */
const SETTLE_MS = 50;
/** The native side has one drain per process: the first mount to start takes it, later ones do not stage. */
let claimed = false;

/** The native side (Fuse's static stage* methods), injectable for tests. */
export interface StageNative {
  setup(drain: (data: Buffer, records: Buffer) => void): void;
  window(fh: number, from: number): void;
  enabled(on: boolean): void;
  exclusive<T>(fn: () => T): T;
}

export const fuseStage: StageNative = {
  setup: (drain) => Fuse.stageSetup(drain),
  window: (fh, from) => Fuse.stageWindow(fh, from),
  enabled: (on) => Fuse.stageEnabled(on),
  exclusive: <T>(fn: () => T): T => Fuse.stageExclusive(fn) as T,
};

export interface StagedWritesOptions {
  /** A staged write reached the handle (it is now `written`; the mount learns its kernel inode). */
  readonly onWrite: (file: OpenFile, inode: number) => void;
  readonly onInternalError: (op: string, err: unknown) => void;
}

export class StagedWrites {
  readonly #native: StageNative;
  #cache: WriteCache | null = null;
  #fds: FdTable | null = null;
  #opts: StagedWritesOptions | null = null;
  #on = true;
  #timer: NodeJS.Timeout | null = null;

  constructor(native: StageNative = fuseStage) {
    this.#native = native;
  }

  /** For the write cache: blocks leave memory only inside this. */
  readonly exclusive = <T>(fn: () => T): T => this.#native.exclusive(fn);

  /** For the write cache: the file's blocks left memory, its windows move. */
  readonly shrunk = (id: NodeId): void => {
    if (this.#fds === null) return;
    for (const fd of this.#fds.handlesOf(id)) this.open(fd);
  };

  /** Starts taking staged writes (writable mounts only). */
  start(cache: WriteCache, fds: FdTable, opts: StagedWritesOptions): void {
    if (claimed && this.#native === fuseStage) return;
    if (this.#native === fuseStage) claimed = true;
    this.#cache = cache;
    this.#fds = fds;
    this.#opts = opts;
    this.#native.setup(this.#drain);
    this.#timer = setInterval(this.settle, SETTLE_MS);
    this.#timer.unref();
  }

  /** Takes in every staged write now (before a flush of everything, at the end). */
  readonly settle = (): void => {
    if (this.#cache !== null) this.#native.exclusive(() => undefined);
  };

  /** No more staging: what waits is taken in. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#cache === null) return;
    this.#native.enabled(false);
    this.settle();
  }

  /** A handle that may write: its window is set. */
  open(fd: number): void {
    const f = this.#fds?.get(fd);
    if (f === undefined || this.#cache === null) return;
    const from = this.#cache.appendFrom(f.id);
    this.#native.window(fd, from ?? -1);
  }

  /** The handle is closing: it stages nothing more. */
  close(fd: number): void {
    if (this.#cache !== null) this.#native.window(fd, -1);
  }

  /** Runs `fn` (a truncate) with the file's windows closed, and sets them again after. */
  async closedWhile<T>(id: NodeId, fn: () => Promise<T>): Promise<T> {
    const fds = this.#fds;
    if (fds === null) return fn();
    this.#native.exclusive(() => {
      for (const fd of fds.handlesOf(id)) this.#native.window(fd, -1);
    });
    try {
      return await fn();
    } finally {
      this.shrunk(id);
    }
  }

  /** After a write that took the round trip: the window may have grown, staging may resume. */
  wrote(fd: number): void {
    if (this.#cache === null) return;
    if (!this.#on && !this.#cache.overBound) {
      this.#on = true;
      this.#native.enabled(true);
    }
    this.open(fd);
  }

  readonly #drain = (data: Buffer, records: Buffer): void => {
    const cache = this.#cache!;
    const fds = this.#fds!;
    const opts = this.#opts!;
    try {
      const r = new Float64Array(records.buffer, records.byteOffset, records.byteLength / 8);
      for (let k = 0; k + FIELDS <= r.length; k += FIELDS) {
        const fd = r[k]!;
        const offset = r[k + 1]!;
        const at = r[k + 3]!;
        const bytes = data.subarray(at, at + r[k + 2]!);
        const f = fds.get(fd);
        if (f === undefined) continue; // cannot be: a release takes the staged writes in first
        try {
          opts.onWrite(f, r[k + 4]!);
          if (cache.writeStaged(f.id, offset, bytes, f.inode)) continue;
          // Cannot be either (the window says no read is needed); still never lost: taken in
          // behind, from a copy (the buffer is the native side's).
          cache.write(f.id, offset, Buffer.from(bytes), f.inode).catch((err: unknown) => opts.onInternalError('write', err));
        } catch (err) {
          opts.onInternalError('staged write', err);
        }
      }
      if (cache.overBound) {
        this.#on = false;
        this.#native.enabled(false);
        cache.relieve();
      }
    } catch (err) {
      opts.onInternalError('staged write', err);
    }
  };
}
