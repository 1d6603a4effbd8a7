/**
 * The write cache (the Puter seed's branch): a FUSE write lands in memory, in whole-block
 * buffers of the file's branch, and returns at once; reads and stat see it immediately. The
 * branch becomes events (blocks stored, then one write event) when it is flushed: on flush,
 * release and fsync, after a rest period, or when it grows past a bound. fsync resolves only
 * once those events are durable.
 *
 * A file unlinked while open (nlink 0) has no name anyone could reach it by again: its branch
 * stays in memory (writes and truncates included, no events) until its last handle closes
 * and the mount discards it.
 */
import { BLOCK_SIZE, type NodeId } from '../log/index.js';
import type { Engine } from './engine.js';
import { EngineError } from './engine-error.js';
import { KeyedMutex } from './keyed-mutex.js';
import { blockBuffers } from './block-store.js';
import { copyBytes } from './copy-bytes.js';
import { blockAt, blockCount } from '../projections/index.js';

/** Blocks read ahead of a sequential read. */
const READ_AHEAD_BLOCKS = 2;
/** Files whose last read end is remembered, at most. */
const READ_ENDS_KEPT = 1024;


/**
 * Block buffers come from the pool the block store shares (engine/block-files.ts BufferPool):
 * a flushed block's buffer is handed to the store as the record's payload, not copied, and
 * comes back to the pool once both are done with it.
 */
function takeBuffer(): Buffer {
  return blockBuffers.take();
}

function giveBuffer(buf: Buffer): void {
  blockBuffers.give(buf);
}

/**
 * The content of file `id` as the projections hold it now, as a string that changes whenever
 * a write or truncate event is applied to it (its apply position) or its size changes; null
 * when the file has none or its bytes live outside the projections (famfs extents on a shared
 * device), where no token can vouch for them.
 */
export function contentToken(engine: Engine, id: NodeId): string | null {
  const p = engine.projections;
  if (p.famfs.extents(id) !== undefined) return null;
  const row = p.content.row(id);
  return row === undefined ? null : `${row.last ?? ''}/${row.size}`;
}

/**
 * What a flush reports (WriteCacheOptions.onStored): the data written by `sources` (as the
 * writers named them) turned the file's content from `before` into `after`, with no other
 * entry applied in between; `after` is null when that cannot be vouched for.
 */
export interface StoredReport {
  readonly sources: ReadonlySet<number>;
  readonly before: string | null;
  readonly after: string | null;
}

/** Attribute changes a write event may carry, set after the data in the same entry. */
export interface HeldAttrs {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly atime?: number;
  readonly mtime?: number;
}

/** What a flush's write event may carry in its entry. */
export interface FlushExtra {
  readonly commit?: boolean;
}

/** What a file's branch changes of its attributes until it is flushed (see WriteCache.view). */
export interface BranchView {
  readonly size: number;
  /** When the branch was last written (ms), 0 when never. */
  readonly written: number;
  /** Attribute changes held for the next flush (see WriteCache.holdAttrs), and when the last was made. */
  readonly attrs: HeldAttrs | null;
  readonly changed: number;
}

export interface WriteCacheOptions {
  /** Flush a file whose dirty bytes pass this. */
  readonly fileBound?: number;
  /** Writers wait for flushes while the whole cache holds more than this. */
  readonly totalBound?: number;
  /** Flush a file this long after its last write (ms). */
  readonly restMs?: number;
  /** A timer with refresh() (Node's) is restarted in place by each write; others are cleared and set again. */
  readonly setTimer?: (fn: () => void, ms: number) => { unref?: () => void; refresh?: () => unknown };
  readonly clearTimer?: (t: unknown) => void;
  /** Told after each flush that stored data (see StoredReport). */
  readonly onStored?: (id: NodeId, report: StoredReport) => void;
  /**
   * Runs `fn` with every write taken in ahead of this cache's API (the mount's staged writes)
   * handed over first and none taken in meanwhile: blocks leave memory only inside it, and
   * onShrink tells which file's appendFrom may have moved.
   */
  readonly exclusive?: <T>(fn: () => T) => T;
  readonly onShrink?: (id: NodeId) => void;
}

interface Block {
  buf: Buffer;
  /** Bytes of content (the rest of buf is unused). */
  len: number;
}

interface Branch {
  size: number;
  /** Base content at and past this offset reads as zeros (an in-memory truncate cut it). */
  floor: number;
  /** When the branch was last written (ms), until its events carry the time. */
  mtime: number;
  readonly dirty: Map<number, Block>;
  /**
   * Blocks being flushed: taken out of `dirty` (no copy) and still read from here until the
   * write event naming them is applied. A write into one of them copies it into `dirty` first.
   */
  readonly inflight: Map<number, Block>;
  bytes: number;
  timer: unknown;
  flushing: Promise<void> | null;
  /** The first failure of a background flush, reported to the next fsync/flush. */
  error: Error | null;
  /** Writes in progress: the branch is not dropped under them (they may still add blocks). */
  writers: number;
  /** Who wrote the data in `dirty` (the `source` writes name), for StoredReport. */
  sources: Set<number>;
  /** Attribute changes to set after the data, in the next flush's entry (holdAttrs). */
  attrs: HeldAttrs | null;
  /** When the held attributes last changed (ms): the file's ctime until they are events. */
  changed: number;
}

export class WriteCache {
  readonly #engine: Engine;
  readonly #branches = new Map<NodeId, Branch>();
  readonly #mutex = new KeyedMutex();
  readonly #fileBound: number;
  readonly #totalBound: number;
  readonly #restMs: number;
  readonly #setTimer: NonNullable<WriteCacheOptions['setTimer']>;
  readonly #clearTimer: NonNullable<WriteCacheOptions['clearTimer']>;
  readonly #onStored: WriteCacheOptions['onStored'];
  readonly #exclusive: NonNullable<WriteCacheOptions['exclusive']>;
  readonly #onShrink: WriteCacheOptions['onShrink'];
  #total = 0;
  /** Where the last read of each file ended (see #readAhead). */
  readonly #readEnds = new Map<NodeId, number>();

  constructor(engine: Engine, opts: WriteCacheOptions = {}) {
    this.#engine = engine;
    this.#fileBound = opts.fileBound ?? 16 * 1024 * 1024;
    this.#totalBound = opts.totalBound ?? 64 * 1024 * 1024;
    this.#restMs = opts.restMs ?? 2000;
    this.#setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.#clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
    this.#onStored = opts.onStored;
    this.#exclusive = opts.exclusive ?? ((fn) => fn());
    this.#onShrink = opts.onShrink;
  }

  /** The whole cache holds more than its bound: writers should wait (see relieve). */
  get overBound(): boolean {
    return this.#total >= this.#totalBound;
  }

  /** Starts flushing the biggest branch when the cache is over its bound. */
  relieve(): void {
    if (this.overBound) void this.#drainSome();
  }

  /**
   * The offset from which any write of the file needs nothing read first: every block from
   * there to the end is in memory (or there is none). It stays so until onShrink names the
   * file. Null when no such offset is kept (the file was cut in memory).
   */
  appendFrom(id: NodeId): number | null {
    const b = this.#branches.get(id);
    if (b === undefined) {
      const row = this.#engine.projections.content.row(id);
      return row === undefined ? null : blockCount(row.size) * BLOCK_SIZE;
    }
    if (b.floor !== Infinity) return null;
    let j = blockCount(b.size);
    const end = j;
    while (j > 0 && end - j < 256 && (b.dirty.has(j - 1) || b.inflight.has(j - 1))) j--;
    return j * BLOCK_SIZE;
  }

  /**
   * A write that must land now, whatever the cache holds (the mount's staged writes, already
   * acknowledged): false, and nothing done, only when it needs current content read first
   * (never at or past appendFrom).
   */
  writeStaged(id: NodeId, offset: number, data: Uint8Array, source = 0): boolean {
    if (data.byteLength === 0) return true;
    const b = this.#branch(id);
    if (this.#needsBase(b, offset, offset + data.byteLength)) return false;
    this.#copyIn(id, b, offset, data, source);
    return true;
  }

  /** Dirty bytes held in memory across all files. */
  get dirtyBytes(): number {
    return this.#total;
  }

  /** The size a file has in its branch, or undefined when it has no branch. */
  size(id: NodeId): number | undefined {
    return this.#branches.get(id)?.size;
  }

  has(id: NodeId): boolean {
    return this.#branches.has(id);
  }

  /** What the file's branch changes until it is flushed (size, write time, held attributes), if it has one. */
  view(id: NodeId): BranchView | undefined {
    const b = this.#branches.get(id);
    return b === undefined ? undefined : { size: b.size, written: b.mtime, attrs: b.attrs, changed: b.changed };
  }

  /**
   * Holds attribute changes (chmod, chown, utimens) of a file that has data not yet flushed:
   * they become a setattr after the data's write event, in the flush's entry, instead of an
   * entry of their own (tar sets times, owner and mode on each file before closing it: one
   * entry at close instead of four). view() shows them meanwhile. A write after held times
   * sets the write time again, as it would after an applied setattr. False, and nothing
   * held, when there is no such data: the caller submits the change itself.
   */
  holdAttrs(id: NodeId, attrs: HeldAttrs): boolean {
    const b = this.#branches.get(id);
    if (b === undefined || b.dirty.size === 0 || this.#detached(id)) return false;
    b.attrs = { ...b.attrs, ...attrs };
    b.changed = this.#engine.env.now();
    return true;
  }

  /** A write or truncate after held times: the data's own write time stands again. */
  #dropHeldMtime(b: Branch): void {
    if (b.attrs?.mtime === undefined) return;
    const { mtime: _m, ...rest } = b.attrs;
    b.attrs = rest;
  }

  /** True when the file has no link left: its branch is never turned into events. */
  #detached(id: NodeId): boolean {
    return this.#engine.projections.tree.node(id)?.nlink === 0;
  }

  /** Base content of [offset, offset + length), zero past the branch's floor. */
  async #readBase(id: NodeId, b: Branch, offset: number, length: number): Promise<Buffer> {
    const upTo = Math.min(offset + length, b.floor);
    if (upTo <= offset) return Buffer.alloc(0);
    return this.#engine.read(id, offset, upTo - offset);
  }

  /** Drops the branch of a file whose last handle closed after it was unlinked. */
  discard(id: NodeId): void {
    const b = this.#branches.get(id);
    if (b === undefined || !this.#detached(id)) return;
    if (b.timer !== null) this.#clearTimer(b.timer);
    b.timer = null;
    this.#exclusive(() => {
      for (const blk of b.dirty.values()) this.#release(b, blk);
      b.dirty.clear();
      // Inflight blocks belong to the flush under way; it drops them when it ends.
      this.#branches.delete(id);
      this.#onShrink?.(id);
    });
  }

  #branch(id: NodeId): Branch {
    let b = this.#branches.get(id);
    if (b === undefined) {
      const row = this.#engine.projections.content.row(id);
      if (row === undefined) throw new EngineError('NOT_FOUND', `no such file: ${id}`);
      b = { size: row.size, floor: Infinity, mtime: 0, dirty: new Map(), inflight: new Map(), bytes: 0, timer: null, flushing: null, error: null, writers: 0, sources: new Set(), attrs: null, changed: 0 };
      this.#branches.set(id, b);
    }
    return b;
  }

  /**
   * Writes into the branch. Resolves once the bytes are in memory (not durable). `source`
   * names the writer, for StoredReport (the mount passes the kernel's inode).
   */
  async write(id: NodeId, offset: number, data: Uint8Array, source = 0): Promise<void> {
    if (data.byteLength === 0) return;
    const b = this.#branch(id);
    b.writers++;
    try {
      await this.#writeInto(id, b, offset, data, source);
    } finally {
      b.writers--;
    }
    if (this.overBound) await this.#drainSome();
  }

  async #writeInto(id: NodeId, b: Branch, offset: number, data: Uint8Array, source: number): Promise<void> {
    const end = offset + data.byteLength;
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    // Blocks only partly covered and not yet in memory need their current content first
    // (again if a flush dropped one while another was read).
    while (this.#needsBase(b, offset, end)) {
      for (let i = first; i <= last; i++) {
        if (b.dirty.has(i) || b.inflight.has(i)) continue;
        const blockStart = i * BLOCK_SIZE;
        const covered = offset <= blockStart && end >= Math.min(blockStart + BLOCK_SIZE, Math.max(b.size, end));
        if (!covered && blockStart < b.size) {
          await this.#mutex.run(`${id}:${i}`, async () => {
            if (b.dirty.has(i)) return;
            const len = Math.min(BLOCK_SIZE, b.size - blockStart);
            const old = await this.#readBase(id, b, blockStart, len);
            if (b.dirty.has(i)) return;
            const buf = takeBuffer();
            const flushing = b.inflight.get(i); // a flush took the block while we read
            copyBytes(buf, flushing !== undefined ? flushing.buf.subarray(0, flushing.len) : old, 0);
            this.#adopt(b, i, { buf, len: flushing?.len ?? old.byteLength });
          });
        }
      }
    }
    this.#copyIn(id, b, offset, data, source);
  }

  /** Whether a write of [offset, end) needs a block's current content read first (it is partly covered, not in memory). */
  #needsBase(b: Branch, offset: number, end: number): boolean {
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    for (let i = first; i <= last; i++) {
      if (b.dirty.has(i) || b.inflight.has(i)) continue;
      const blockStart = i * BLOCK_SIZE;
      const covered = offset <= blockStart && end >= Math.min(blockStart + BLOCK_SIZE, Math.max(b.size, end));
      if (!covered && blockStart < b.size) return true;
    }
    return false;
  }

  /**
   * The write when it needs no read (appends, whole blocks, blocks already in memory: nearly
   * every FUSE write): done before returning, without a promise. False when it must wait
   * (a read of current content, or the cache over its bound): then call write().
   */
  writeNow(id: NodeId, offset: number, data: Uint8Array, source = 0): boolean {
    return (data.byteLength === 0 || !this.overBound) && this.writeStaged(id, offset, data, source);
  }

  /** Copies the bytes into the branch's blocks (every partly covered block is in memory or starts past the end). */
  #copyIn(id: NodeId, b: Branch, offset: number, data: Uint8Array, source: number): void {
    const end = offset + data.byteLength;
    b.sources.add(source);
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    for (let i = first; i <= last; i++) {
      const blockStart = i * BLOCK_SIZE;
      let block = b.dirty.get(i);
      if (block === undefined) {
        const flushing = b.inflight.get(i);
        block = { buf: takeBuffer(), len: 0 };
        if (flushing !== undefined) {
          // Being flushed: written again here, as a copy (the flush keeps what it took).
          copyBytes(block.buf, flushing.buf.subarray(0, flushing.len), 0);
          block.len = flushing.len;
        }
        this.#adopt(b, i, block);
      }
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(end, blockStart + BLOCK_SIZE) - blockStart;
      if (from > block.len) block.buf.fill(0, block.len, from);
      copyBytes(block.buf, data.subarray(blockStart + from - offset, blockStart + to - offset), from);
      if (to > block.len) block.len = to;
    }
    if (end > b.size) b.size = end;
    b.mtime = this.#engine.env.now();
    this.#dropHeldMtime(b);
    this.#schedule(id, b);
    if (b.bytes >= this.#fileBound) void this.#startFlush(id, b);
  }

  #adopt(b: Branch, index: number, block: Block): void {
    b.dirty.set(index, block);
    b.bytes += BLOCK_SIZE;
    this.#total += BLOCK_SIZE;
  }

  /**
   * Reads through the branch: dirty blocks from memory, the rest from the store. With `into`
   * (at least `length` bytes), a file with no branch is read into it (see Engine.read) and the
   * result is a view of it; otherwise the result is a fresh buffer.
   */
  async read(id: NodeId, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const b = this.#branches.get(id);
    if (b === undefined) {
      const data = this.#engine.read(id, offset, length, into);
      this.#readAhead(id, offset, length);
      return data;
    }
    const end = Math.min(b.size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    let cleanFrom = -1;
    const pending: Promise<void>[] = [];
    const readClean = (fromBlock: number, toBlock: number): void => {
      const s = Math.max(offset, fromBlock * BLOCK_SIZE);
      const e = Math.min(end, (toBlock + 1) * BLOCK_SIZE);
      pending.push(this.#readBase(id, b, s, e - s).then((d) => void d.copy(out, s - offset)));
    };
    for (let i = first; i <= last; i++) {
      const block = b.dirty.get(i) ?? b.inflight.get(i);
      if (block === undefined) {
        if (cleanFrom < 0) cleanFrom = i;
        continue;
      }
      if (cleanFrom >= 0) {
        readClean(cleanFrom, i - 1);
        cleanFrom = -1;
      }
      const blockStart = i * BLOCK_SIZE;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(end, blockStart + BLOCK_SIZE) - blockStart;
      if (from < block.len) copyBytes(out, block.buf.subarray(from, Math.min(to, block.len)), blockStart + from - offset);
    }
    if (cleanFrom >= 0) readClean(cleanFrom, last);
    await Promise.all(pending);
    return out;
  }

  /**
   * A read that starts where the file's last read ended is sequential: the blocks after it
   * are read ahead (by hash: content cannot change under them), so that the next requests
   * find them in memory instead of waiting for the pack read.
   */
  #readAhead(id: NodeId, offset: number, length: number): void {
    const sequential = this.#readEnds.get(id) === offset;
    if (this.#readEnds.size >= READ_ENDS_KEPT) this.#readEnds.clear();
    this.#readEnds.set(id, offset + length);
    if (!sequential) return;
    const row = this.#engine.projections.content.row(id);
    if (row === undefined) return;
    const next = blockCount(offset + length);
    for (let i = next; i < next + READ_AHEAD_BLOCKS && i * BLOCK_SIZE < row.size; i++) this.#engine.blocks.prefetch(blockAt(row.blocks, i));
  }

  /**
   * Sets the size: the branch is flushed first, then the truncate is an event of its own.
   * An unlinked file is truncated in memory.
   */
  async truncate(id: NodeId, size: number): Promise<void> {
    if (this.#detached(id) && this.#engine.projections.content.row(id) !== undefined) {
      const b = this.#branch(id);
      while (b.flushing !== null) await b.flushing;
      this.#exclusive(() => {
        for (const [i, block] of b.dirty) {
          const blockStart = i * BLOCK_SIZE;
          if (blockStart >= size) {
            b.dirty.delete(i);
            giveBuffer(block.buf);
            b.bytes -= BLOCK_SIZE;
            this.#total -= BLOCK_SIZE;
          } else if (block.len > size - blockStart) {
            block.len = size - blockStart;
          }
        }
        b.floor = Math.min(b.floor, size);
        b.size = size;
        b.mtime = this.#engine.env.now();
        this.#dropHeldMtime(b);
        this.#onShrink?.(id);
      });
      return;
    }
    await this.flush(id);
    await this.#engine.truncate(id, size);
  }

  #schedule(id: NodeId, b: Branch): void {
    if (b.timer !== null) {
      // Every write re-arms the timer: a Node timer is restarted in place (refresh), which
      // costs far less than clearing it and making a new one (dd bs=4k: 256k writes a GiB).
      const refresh = (b.timer as { refresh?: () => unknown }).refresh;
      if (typeof refresh === 'function') {
        refresh.call(b.timer);
        return;
      }
      this.#clearTimer(b.timer);
    }
    const t = this.#setTimer(() => {
      b.timer = null;
      void this.#startFlush(id, b);
    }, this.#restMs);
    t.unref?.();
    b.timer = t;
  }

  /** Starts a flush (or joins the one under way); resolves true when `extra` went with a write event. */
  #startFlush(id: NodeId, b: Branch, extra: FlushExtra = {}): Promise<boolean> {
    if (b.flushing !== null) return b.flushing.then(() => false);
    let carried = false;
    b.flushing = this.#flushBranch(id, b, extra)
      .then((c) => {
        carried = c;
      })
      .catch((err: Error) => {
        b.error ??= err;
      })
      .finally(() => {
        b.flushing = null;
      });
    return b.flushing.then(() => carried);
  }

  async #flushBranch(id: NodeId, b: Branch, extra: FlushExtra): Promise<boolean> {
    // The pack write the last batch started: the next batch is hashed while it runs (the two
    // took turns before: a 1 MiB dd spent half of each batch waiting on one, half on the other),
    // and awaited before a third starts, so at most two batches' blocks wait to be written. A
    // failed write keeps its records staged (the store writes them again at its next write or
    // sync, which fails the same way if it still cannot): the events naming them stand, and the
    // next fsync or flush of the file reports it.
    let writing = null as Promise<void> | null;
    const waitFor = async (w: Promise<void> | null): Promise<void> => {
      await w?.catch((err: Error) => {
        b.error ??= err;
      });
    };
    try {
      return await this.#flushBatches(id, b, extra, (w) => {
        const before = writing;
        writing = w;
        return waitFor(before);
      });
    } finally {
      await waitFor(writing);
    }
  }

  /** #flushBranch's batches; `started` takes the write a batch started and waits for the one before it. */
  async #flushBatches(id: NodeId, b: Branch, extra: FlushExtra, started: (w: Promise<void> | null) => Promise<void>): Promise<boolean> {
    let carried = false;
    while (b.dirty.size > 0) {
      if (this.#detached(id)) return false; // unlinked: stays in memory until discarded
      const indexes = [...b.dirty.keys()].sort((x, y) => x - y);
      // The blocks are taken, not copied: writes landing meanwhile copy them back into `dirty`.
      const taken = indexes.map((i) => [i, b.dirty.get(i)!] as const);
      for (const [i, blk] of taken) {
        b.dirty.delete(i);
        b.inflight.set(i, blk);
      }
      const size = b.size;
      const contents = taken.map(([, blk]) => blk.buf.subarray(0, blk.len));
      const sources = b.sources;
      b.sources = new Set();
      // Held attributes go with this write event (a setattr after it, in its entry).
      const held = b.attrs;
      b.attrs = null;
      let report: StoredReport | null = null;
      let stored: boolean;
      try {
        stored = await this.#engine.gate.shared(async () => {
          // Handed over, not copied: the store holds each buffer until its record is written,
          // the branch until the write event is applied (reads are served from it meanwhile).
          for (const c of contents) blockBuffers.hold(c);
          const { hashes, written } = await this.#engine.blocks.stageMany(contents, { owned: true, hashHere: true, split: true, around: true });
          await started(written);
          try {
            const blocks = taken.map(([i], k) => [i, hashes[k]!] as const);
            const { commit } = extra;
            // The content before and after this write event, vouched for when no other entry
            // was applied in between (nothing else moved the head, nothing was received).
            const p = this.#engine.projections;
            const [h0, g0, before] = [p.head, this.#engine.pathGeneration, contentToken(this.#engine, id)];
            await this.#engine.submit({ type: 'write', id, size, blocks, ...(commit === true ? { commit } : {}), ...(held !== null ? { attrs: held } : {}) });
            const alone = p.head === h0 + 1 && this.#engine.pathGeneration === g0;
            report = { sources, before, after: alone ? contentToken(this.#engine, id) : null };
          } catch (err) {
            if (this.#detached(id)) return false; // unlinked meanwhile
            throw err;
          }
          return true;
        });
      } catch (err) {
        // Nothing was named: the blocks go back (unless written again meanwhile, which copied them).
        this.#giveBack(id, b, taken, sources, true);
        this.#keepHeld(b, held);
        throw err;
      }
      // Unlinked meanwhile (not stored): kept in memory, still their writers'.
      this.#giveBack(id, b, taken, sources, !stored);
      if (!stored) {
        this.#keepHeld(b, held);
        return false;
      }
      if (report !== null) this.#onStored?.(id, report);
      carried = true;
    }
    if (b.dirty.size === 0 && b.writers === 0 && this.#branches.get(id) === b && b.timer === null) {
      this.#branches.delete(id);
    }
    return carried;
  }

  /**
   * Ends a flush's hold on the blocks it took: `keep` puts each back into `dirty` (unless
   * written again meanwhile, which copied it) with the writers it came from; otherwise they
   * are released.
   */
  #giveBack(id: NodeId, b: Branch, taken: ReadonlyArray<readonly [number, Block]>, sources: Iterable<number>, keep: boolean): void {
    if (keep) for (const s of sources) b.sources.add(s);
    this.#exclusive(() => {
      for (const [i, blk] of taken) {
        b.inflight.delete(i);
        if (keep && !b.dirty.has(i) && this.#branches.get(id) === b) this.#reclaim(b, i, blk);
        else this.#release(b, blk);
      }
      this.#onShrink?.(id);
    });
  }

  /** Held attributes a flush took and did not store go back, under any held since. */
  #keepHeld(b: Branch, held: HeldAttrs | null): void {
    if (held !== null) b.attrs = { ...held, ...b.attrs };
  }

  /**
   * A block that was handed to the store goes back into `dirty`, as a copy: the store may
   * still hold the buffer as a record's payload, which must not change under it.
   */
  #reclaim(b: Branch, index: number, blk: Block): void {
    const buf = takeBuffer();
    copyBytes(buf, blk.buf.subarray(0, blk.len), 0);
    b.dirty.set(index, { buf, len: blk.len });
    giveBuffer(blk.buf);
  }

  /** A block leaves the branch: its buffer goes back to the pool. */
  #release(b: Branch, blk: Block): void {
    giveBuffer(blk.buf);
    b.bytes -= BLOCK_SIZE;
    this.#total -= BLOCK_SIZE;
  }

  /**
   * Turns the file's branch into events (applied at once; durable soon after, in a group
   * commit). With `durable`, resolves only once they are on disk. With `commit`, the write
   * event is followed by a commit in the same entry (the last close of the file); attributes
   * held meanwhile (holdAttrs) follow as a setattr. Resolves true when there was data and
   * those went with it; false when the caller must still carry them out itself. Reports a
   * failed flush.
   */
  async flush(id: NodeId, opts: { durable?: boolean } & FlushExtra = {}): Promise<boolean> {
    const b = this.#branches.get(id);
    if (b === undefined) {
      // Flushed already (at close, after the rest period), maybe not durable yet: fsync waits.
      if (opts.durable) await this.#engine.flush();
      return false;
    }
    if (b.timer !== null) {
      this.#clearTimer(b.timer);
      b.timer = null;
    }
    while (b.flushing !== null) await b.flushing;
    const carried = b.dirty.size > 0 && (await this.#startFlush(id, b, opts.commit === true ? { commit: true } : {}));
    const err = b.error;
    b.error = null;
    if (b.dirty.size === 0 && b.writers === 0 && this.#branches.get(id) === b) this.#branches.delete(id);
    if (err) throw err;
    if (opts.durable) await this.#engine.flush();
    return carried;
  }

  /** Flushes every branch, durably. */
  async flushAll(): Promise<void> {
    const errors: Error[] = [];
    for (const id of [...this.#branches.keys()]) await this.flush(id).catch((e: Error) => errors.push(e));
    if (errors.length > 0) throw errors[0];
    await this.#engine.flush();
  }

  async #drainSome(): Promise<void> {
    const biggest = [...this.#branches.entries()].sort((a, b) => b[1].bytes - a[1].bytes)[0];
    if (biggest) await this.#startFlush(biggest[0], biggest[1]);
  }
}
