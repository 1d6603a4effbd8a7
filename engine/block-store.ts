/**
 * The content-addressed block store: blocks of file content, named by their SHA-256, kept
 * once each in append-only pack files (engine/block-pack.ts; spec/block-format.md) and found
 * through the BlockIndex (hash -> pack, offset) in the projections' LMDB environment.
 *
 * Writes are batched: put() stages a record in memory (readable at once), a flush writes the
 * staged records of a pack with one positioned write and then records their locations in
 * one LMDB transaction, and sync() makes everything put so far durable (fdatasync of the
 * packs written, fsync of the directory when a pack was created). Reads are positioned
 * reads on cached handles, checked against the hash.
 *
 * The packs are the truth and the index is a cache of them: open() checks the index
 * against the packs (entries into missing packs, past a pack's end or into bytes written
 * after the last sync are verified or dropped) and indexes whole records it finds that the
 * index lacks (an LMDB commit lost in a crash, or a lost environment), and it cuts a torn
 * tail. No synchronous fs call is made anywhere: this runs inside the FUSE server.
 */
import { mkdir, readdir, readFile, rename, rm, stat, unlink, open as openFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateRaw as deflateRawCb, inflateRaw as inflateRawCb, constants as zc } from 'node:zlib';
import { syncDir, ZERO_BLOCK } from '../log/index.js';
import type { BlockIndex, BlockLocation } from '../projections/block-index.js';
import { EngineError } from './engine-error.js';
import { BlockCache, BufferPool, Mutex, PackFiles } from './block-files.js';
import { blockHasher, FrameLease, transferable } from './block-hasher.js';
import { PackAppends } from './pack-appends.js';
import {
  CODEC_DEFLATE,
  CODEC_RAW,
  GC_INTENT_FILE,
  PACK_HEADER_BYTES,
  RECORD_HEADER_BYTES,
  SYNCED_FILE,
  checkRecord,
  decodeGcIntent,
  decodePackHeader,
  decodeSynced,
  encodeGcIntent,
  encodePackHeader,
  encodeRecord,
  encodeRecordHead,
  recordCrcHolds,
  recordCrcOf,
  recordHeadPrefix,
  encodeSynced,
  packFileName,
  parsePackFileName,
  parseRecordHeader,
  readAt,
  type RecordHeader,
  scanPack,
  sha256,
  sha256Async,
  type SyncedMark,
} from './block-pack.js';

/**
 * The block size: the largest block, and the size of the block ZERO_BLOCK stands for. It must
 * equal log/events.ts BLOCK_SIZE, the format constant write events index blocks by (a test
 * checks). 128 KiB, chosen by measurement (spec/block-format.md §9; Node 20, 2 shared vCPUs,
 * warm page cache; CPU figures are medians, the machine was too loaded for wall times to be
 * more than rough), for block sizes 32 / 64 / 128 / 256 KiB:
 *
 *   put + sync, 1 GiB random, CPU s/GiB      5.8 / 4.4 / 4.1 / 3.1   (best 96 / 99 / 132 / 184 MB/s)
 *   get, sequential 128 KiB requests, CPU    271 / 322 / 185 / 267 us per request (best 544 / 615 / 874 / 732 MB/s)
 *   get, random 4 KiB, CPU per read          92 / 136 / 218 / 438 us
 *   4 KiB in-place edit: bytes rewritten     32,820 / 65,588 / 131,124 / 262,196
 *                        CPU (get + put)     284 / 526 / 772 / 1951 us
 *   128 KiB writes rewritten, aligned        1.00 / 1.00 / 1.00 / 2.00 x
 *                             unaligned      1.22 / 1.47 / 1.97 / 2.97 x
 *   index entries, log hash bytes per GiB    32,768 / 16,384 / 8,192 / 4,096 entries; 1 MiB / 512 / 256 / 128 KiB
 *   10,000 files of 1-8 KiB                  the same at every size (one record each, of the file's length)
 *
 * 128 KiB is the largest FUSE request, so an aligned write is exactly one block (one hash,
 * one record, one index entry, one hash in the log), sequential reads cost the least CPU,
 * and per-block metadata is half that of 64 KiB. It pays for it in small random I/O: a 4 KiB
 * edit rewrites 128 KiB (rsync ships 262 KB for a one-byte edit) and a random 4 KiB read
 * costs ~1.6x the CPU of 64 KiB. A household's files are mostly written and read whole, so
 * 128 KiB; 256 KiB doubles every 128 KiB write.
 */
export const BLOCK_SIZE = 128 * 1024;

/** A new pack starts when the active one passes this. */
export const DEFAULT_PACK_BYTES = 256 * 1024 * 1024;
/** Staged bytes that make put() write them out (bounds the memory of the write buffer). */
const DEFAULT_FLUSH_BYTES = 8 * 1024 * 1024;
const DEFAULT_CACHE_BYTES = 8 * 1024 * 1024;
/** Blocks from this size on are hashed in the thread pool (see #stage). */
const ASYNC_HASH_BYTES = 32 * 1024;
/** Blocks in shared memory that add up to this many bytes are hashed by the block hasher's worker (see #stage). */
const WORKER_HASH_BYTES = 256 * 1024;
/** Blocks read ahead and not taken yet, at most (see prefetch). */
const MAX_AHEAD = 8;
const DEFAULT_MAX_OPEN_PACKS = 64;
/** gc rewrites a pack when at least this fraction of its bytes is dead. */
const DEFAULT_MIN_DEAD_FRACTION = 0.5;
/**
 * Written bytes after which a pack's fdatasync starts in the background: a long write (an
 * import, a 1 GiB file through the mount) then reaches the disk while it runs, and the sync
 * that makes it durable at the end finds little left to write.
 */
const EARLY_SYNC_BYTES = 32 * 1024 * 1024;
/** Rows per LMDB transaction when reindexing. */
const INDEX_BATCH = 50_000;
/** Bytes of live records read at a time when gc copies a pack. */
const COPY_RUN_BYTES = 8 * 1024 * 1024;
const INTENT_TMP = `${GC_INTENT_FILE}.tmp`;

const deflateRaw = promisify(deflateRawCb);
const inflateRaw = promisify(inflateRawCb);

/** The steps of gc after which a test may simulate a crash (by throwing from the hook). */
export type GcStep = 'copied' | 'intent' | 'moved' | 'dropped' | 'unlinked';

export interface BlockStoreOptions {
  /** A new pack starts when the active one passes this many bytes (default 256 MiB). */
  readonly packBytes?: number;
  /** The largest block put accepts; ZERO_BLOCK reads as this many zeros (default BLOCK_SIZE). */
  readonly blockSize?: number;
  /** Never writes: no puts, no gc, and recovery on open is kept in memory. */
  readonly readOnly?: boolean;
  /** Staged bytes that make put() write them (default 8 MiB). */
  readonly flushBytes?: number;
  /** Bytes of decoded blocks kept for repeated reads (default 8 MiB; 0 turns it off). */
  readonly cacheBytes?: number;
  /** Pack file handles kept open (default 64). */
  readonly maxOpenPacks?: number;
  /** Called after each step of gc; a throw aborts gc there, as a crash would (tests). */
  readonly gcStep?: (step: GcStep) => void | Promise<void>;
}

export interface BlockStats {
  /** Blocks held (put, not dropped by gc). */
  readonly blocks: number;
  /** Bytes of their payloads as stored (after compression). */
  readonly storedBytes: number;
  /** Bytes of their content. */
  readonly logicalBytes: number;
  readonly packs: number;
  /** Bytes of the pack files: stored bytes plus record headers, pack headers and dead space. */
  readonly fileBytes: number;
}

export interface GcResult {
  /** Blocks dropped from the index. */
  readonly freedBlocks: number;
  /** Disk bytes given back: packs deleted and dead tails cut, less the bytes of the copies. */
  readonly freedBytes: number;
  readonly packsRewritten: number;
  /** Bytes of live records copied out of rewritten packs. */
  readonly copiedBytes: number;
  /** Live records that failed their checksum while being copied (their packs are kept). */
  readonly corrupt: readonly string[];
}

export interface BlockRecovery {
  /** Index entries dropped on open: into a missing pack, past a pack's end, or not a whole record. */
  droppedEntries: number;
  /** Whole records found in the packs that the index lacked, now indexed. */
  reindexed: number;
  /** Bytes of pack read to check them. */
  scannedBytes: number;
  readonly tornTails: { pack: number; offset: number; bytes: number; reason: string }[];
  readonly badRegions: { pack: number; offset: number; length: number; reason: string }[];
  /** Packs an interrupted gc had retired and open deleted. */
  readonly finishedGc: number[];
}

interface PackInfo {
  readonly n: number;
  /** Bytes written or staged. */
  size: number;
  /** Bytes of the records of the blocks held in it (header and payload). */
  live: number;
  count: number;
  onDisk: boolean;
}

interface Row {
  readonly hash: Buffer;
  readonly key: string;
  readonly loc: BlockLocation;
}

interface PendingWrite {
  readonly pack: number;
  readonly offset: number;
  readonly bufs: Buffer[];
  bytes: number;
  readonly create: boolean;
  /** Bytes of records whose callers will not read them back soon (stageMany `around`): see #flush. */
  around: number;
  /** Locations to index once written (gc copies have none: gc indexes them after a sync). */
  readonly rows: Row[];
}

interface Staged {
  /** The record's 52-byte header and its payload (two views of one buffer, or two buffers). */
  readonly head: Buffer;
  readonly payload: Buffer;
  readonly loc: BlockLocation;
  /** The payload is a pool buffer handed over by putMany `owned`: given back once written (stageMany's are only let go). */
  readonly owned: boolean;
  /** The payload is a view of a received message held by this lease (stageIn): let go once written. */
  readonly lease?: FrameLease | undefined;
}

/** Whether `blocks` go to the block hasher's worker: enough bytes, all in shared memory (BufferPool `shared`). */
function forWorker(blocks: readonly Uint8Array[]): boolean {
  let n = 0;
  for (const b of blocks) n += b.byteLength;
  return n >= WORKER_HASH_BYTES && blocks.every((b) => b.buffer instanceof SharedArrayBuffer);
}

/**
 * Whole-block buffers shared by the write cache and the block store (see BufferPool): up to
 * 768 (96 MiB: the write cache's 64 MiB bound and the store's queue) kept while writes go on,
 * 64 once idle.
 */
export const blockBuffers = new BufferPool(BLOCK_SIZE, 768, { shared: true, keepIdle: 64 });

/**
 * A record read at `loc` for block `hash`, checked: its header against the index, and its CRC
 * when `crc`. Its header when it holds, else what is wrong.
 */
function checkedAt(head: Buffer, payload: Buffer, hash: Uint8Array, loc: BlockLocation, crc: boolean): RecordHeader | string {
  const h = parseRecordHeader(head, 0);
  if (typeof h === 'string') return h;
  if (!h.hash.equals(hash)) return `the record there holds block ${h.hash.toString('hex')}`;
  if (h.codec !== loc.codec || h.stored !== loc.stored || h.size !== loc.size) return 'the record header disagrees with the index';
  if (crc && !recordCrcHolds(head, payload)) return 'the record does not match its CRC-32';
  return h;
}

export class BlockStore {
  readonly dir: string;
  /** What open found and repaired. */
  readonly recovery: BlockRecovery = { droppedEntries: 0, reindexed: 0, scannedBytes: 0, tornTails: [], badRegions: [], finishedGc: [] };

  readonly #index: BlockIndex;
  readonly #readOnly: boolean;
  readonly #packBytes: number;
  readonly #blockSize: number;
  readonly #flushBytes: number;
  readonly #gcStep: ((step: GcStep) => void | Promise<void>) | undefined;
  readonly #files: PackFiles;
  /** The queue's writes to the packs: large runs around the page cache (see pack-appends.ts). */
  readonly #appends: PackAppends;
  readonly #cache: BlockCache;
  readonly #io = new Mutex();
  readonly #gcLock = new Mutex();

  readonly #packs = new Map<number, PackInfo>();
  #active: PackInfo | null = null;
  #nextPack = 1;
  /** Packs started so far (gc counts the headers of those its copies start). */
  #rolls = 0;
  #queue: PendingWrite[] = [];
  #queuedBytes = 0;
  readonly #staged = new Map<string, Staged>();
  readonly #reading = new Map<string, Promise<Buffer>>();
  /** Blocks read ahead of a sequential read (prefetch), each until its read takes it. */
  readonly #ahead = new Map<string, Promise<Buffer>>();
  /** Blocks that reads find in memory elsewhere (see heldElsewhere): prefetch leaves them alone. */
  #elsewhere: ((key: string) => boolean) | null = null;
  readonly #dirty = new Set<number>();
  #dirDirty = false;
  #mark: SyncedMark | null = null;
  #markFh: FileHandle | null = null;
  /** Hashes put while a gc runs (dedup hits): gc keeps them even if isLive said no. */
  #touched: Set<string> | null = null;
  /** Read-only opens keep what recovery found here instead of in the index (null: hidden). */
  readonly #overlay = new Map<string, BlockLocation | null>();
  #broken: Error | null = null;
  /** Bytes written since the last early sync was started (see #syncEarly). */
  #unsynced = 0;
  #early: Promise<void> | null = null;
  #closed = false;

  #blocks = 0;
  #storedBytes = 0;
  #logicalBytes = 0;

  private constructor(dir: string, index: BlockIndex, opts: BlockStoreOptions) {
    this.dir = dir;
    this.#index = index;
    this.#readOnly = opts.readOnly === true;
    this.#packBytes = opts.packBytes ?? DEFAULT_PACK_BYTES;
    this.#blockSize = opts.blockSize ?? BLOCK_SIZE;
    this.#flushBytes = opts.flushBytes ?? DEFAULT_FLUSH_BYTES;
    this.#gcStep = opts.gcStep;
    this.#cache = new BlockCache(opts.cacheBytes ?? DEFAULT_CACHE_BYTES);
    this.#appends = new PackAppends((n) => this.#files.path(n));
    this.#files = new PackFiles(dir, {
      max: opts.maxOpenPacks ?? DEFAULT_MAX_OPEN_PACKS,
      readOnly: this.#readOnly,
      pinned: (n) => this.#dirty.has(n) || this.#active?.n === n || this.#queue.some((w) => w.pack === n),
    });
    if (!(this.#packBytes > PACK_HEADER_BYTES)) throw new EngineError('BAD_ARGUMENT', `packBytes must exceed ${PACK_HEADER_BYTES}, not ${this.#packBytes}`);
    if (!(this.#blockSize > 0 && this.#blockSize <= 16 * 1024 * 1024)) throw new EngineError('BAD_ARGUMENT', `blockSize ${this.#blockSize} is out of range`);
  }

  static async open(dir: string, index: BlockIndex, opts: BlockStoreOptions = {}): Promise<BlockStore> {
    const s = new BlockStore(dir, index, opts);
    try {
      await s.#recover();
    } catch (err) {
      await s.#files.closeAll();
      await s.#markFh?.close().catch(() => undefined);
      throw err instanceof EngineError ? err : ioError(err, `cannot open the block store at ${dir}`);
    }
    return s;
  }

  // ---------------------------------------------------------------- writing

  /**
   * Stores a block (at most blockSize bytes) and returns its SHA-256. Content already held
   * writes nothing; a full block of zeros is not stored and returns ZERO_BLOCK. `compress`
   * keeps a deflate-raw payload when it saves at least 1/8. Not durable until sync(). The
   * caller must not change `data` until the promise settles.
   */
  async put(data: Uint8Array, opts: { compress?: boolean } = {}): Promise<Uint8Array> {
    this.#checkWritable();
    const [hash] = await this.#stage([data], opts.compress === true);
    if (this.#queuedBytes >= this.#flushBytes) await this.#io.run(() => this.#flush());
    return hash!;
  }

  /**
   * Stores many blocks; returns their hashes in order. Like put, the blocks are staged (and
   * readable at once) and written when enough are queued or at sync(): ten thousand small
   * files make a few large writes, not ten thousand small ones. With `split`, a large batch
   * in shared memory is hashed by two worker threads at once (the mount's write cache and
   * import, whose writers wait for it; a peer's blocks keep to one, beside the event loop).
   */
  async putMany(blocks: readonly Uint8Array[], opts: { compress?: boolean; owned?: boolean; hashHere?: boolean; split?: boolean } = {}): Promise<Uint8Array[]> {
    if (opts.owned === true) {
      try {
        this.#checkWritable();
      } catch (err) {
        for (const b of blocks) blockBuffers.give(b);
        throw err;
      }
    } else {
      this.#checkWritable();
    }
    const hashes = await this.#stage(blocks, opts.compress === true, opts.owned === true, false, { hashHere: opts.hashHere === true, split: opts.split === true });
    if (this.#queuedBytes >= this.#flushBytes) await this.#io.run(() => this.#flush());
    return hashes;
  }

  /**
   * Stores blocks as putMany does, without waiting for the write they may start: resolves
   * once they are hashed and staged (readable at once) with their hashes and `written`, the
   * write they started (null when none was due). A caller that keeps blocks coming must await
   * each `written` before it starts many more (that is the wait putMany makes itself), so
   * staged bytes stay bounded; meanwhile it can hash the next blocks while the disk writes.
   * The blocks are kept as they are until written, not copied: the caller never changes them.
   * With `owned`, they are pool buffers handed over as putMany's `owned` are; `hashHere` and
   * `split` as putMany's. With `around`, the caller says nobody will read these blocks back
   * from the packs soon (the mount's write cache: its kernel page cache holds them): their
   * large writes go around the page cache (engine/pack-appends.ts).
   */
  async stageMany(blocks: readonly Uint8Array[], opts: { owned?: boolean; hashHere?: boolean; split?: boolean; around?: boolean } = {}): Promise<{ hashes: Uint8Array[]; written: Promise<void> | null }> {
    const owned = opts.owned === true;
    try {
      this.#checkWritable();
    } catch (err) {
      if (owned) for (const b of blocks) blockBuffers.give(b);
      throw err;
    }
    const hashes = await this.#stage(blocks, false, owned, !owned, { hashHere: opts.hashHere === true, split: opts.split === true, around: opts.around === true });
    const written = this.#queuedBytes >= this.#flushBytes ? this.#io.run(() => this.#flush()).then(() => undefined) : null;
    return { hashes, written };
  }

  /**
   * Stores blocks that lie in one buffer the caller gives up (a message of blocks received
   * from a peer), as stageMany stores blocks it keeps: `spans` are their [offset, length] in
   * it. When `buffer` is an ArrayBuffer of its own, it moves to the block hasher's worker
   * (engine/block-hasher.ts), which hashes the blocks and computes their records' CRCs off the
   * event loop, and back; otherwise they are hashed as stageMany hashes. Returns the blocks
   * as views of the buffer as it came back (the one given may be detached: use these), their
   * hashes in order, the write staging started (see stageMany), and, when the buffer went to
   * the worker, the caller's hold of its lease (FrameLease): let go once the caller is done
   * with the views. A SharedArrayBuffer given with `free` (a pooled buffer) is hashed where it
   * lies, and handed to `free` once the lease is let go. With `flush`, the write starts now,
   * whatever is queued (the blocks were just read by the hasher: copying them into the page
   * cache now is cheaper than once they left the CPU's caches).
   *
   * `known` (blocks from a peer that sent their records' CRCs): the hash each block was asked
   * for and the CRC-32 of the raw record that stores it (spec/block-format.md), as the sender
   * read it from its own record; a block whose SHA-256 is the hash asked for is stored with
   * that CRC instead of one computed here (a CRC pass over every byte: about 0.3 CPU-s a
   * GiB). Any other block's CRC is computed here. `hashed` (with `known`, for a pooled buffer):
   * the blocks' SHA-256, computed by the worker where it opened their message (Opener.
   * openInPlace `blocks`), so they are not posted back to it to be hashed again.
   */
  async stageIn(
    buffer: ArrayBufferLike,
    spans: ReadonlyArray<readonly [number, number]>,
    opts: { free?: (buffer: ArrayBufferLike) => void; flush?: boolean; known?: { hashes: readonly Uint8Array[]; crcs: readonly number[] }; hashed?: readonly Buffer[] } = {},
  ): Promise<{ blocks: Buffer[]; hashes: Uint8Array[]; written: Promise<void> | null; lease: FrameLease | null }> {
    this.#checkWritable();
    let pre: { hashes: Buffer[]; crcs: number[] } | undefined;
    let views: Buffer[];
    let lease: FrameLease | null = null;
    const fits = spans.every(([, n]) => n <= this.#blockSize);
    const known = opts.known !== undefined && opts.known.hashes.length === spans.length && opts.known.crcs.length === spans.length ? opts.known : undefined;
    if (blockHasher.usable && buffer instanceof SharedArrayBuffer && opts.free !== undefined && fits) {
      // A pooled buffer in shared memory: the worker reads the blocks where they lie; the
      // buffer goes back to its pool (`free`) once every holder let go.
      views = spans.map(([o, n]) => Buffer.from(buffer, o, n));
      let prefixes: Uint8Array | null = null;
      if (known === undefined) {
        prefixes = new Uint8Array(16 * spans.length);
        spans.forEach(([, n], i) => prefixes!.set(recordHeadPrefix(CODEC_RAW, n, n), 16 * i));
      }
      try {
        // Hashed already where the message was opened (`hashed`, with `known`): no round trip.
        const got = opts.hashed !== undefined && known !== undefined && opts.hashed.length === spans.length ? { hashes: [...opts.hashed], crcs: [] as number[] } : await blockHasher.hashViews(views, prefixes);
        pre = known === undefined ? got : { hashes: got.hashes, crcs: got.hashes.map((h, i) => (h.equals(known.hashes[i]!) ? known.crcs[i]! : recordCrcOf(h, views[i]!))) };
        lease = FrameLease.take(buffer, opts.free);
      } catch {
        // the worker failed: hashed below, on this thread; the buffer is left to the collector
      }
    } else if (blockHasher.usable && transferable(buffer) && fits) {
      const prefixes = new Uint8Array(16 * spans.length);
      spans.forEach(([, n], i) => prefixes.set(recordHeadPrefix(CODEC_RAW, n, n), 16 * i));
      const got = await blockHasher.hash(buffer, spans, prefixes);
      // The buffer came back from the worker: its staged records hold it until written.
      lease = FrameLease.take(got.buffer);
      views = spans.map(([o, n]) => Buffer.from(got.buffer, o, n));
      pre = { hashes: got.hashes, crcs: got.crcs };
    } else {
      views = spans.map(([o, n]) => Buffer.from(buffer, o, n));
    }
    const hashes = await this.#stage(views, false, false, true, { pre });
    const flush = this.#queuedBytes >= this.#flushBytes || (opts.flush === true && this.#queuedBytes > 0);
    const written = flush ? this.#io.run(() => this.#flush()).then(() => undefined) : null;
    return { blocks: views, hashes, written, lease };
  }

  /** Makes every block put so far durable. */
  async sync(): Promise<void> {
    this.#checkOpen();
    if (this.#readOnly) return;
    await this.#io.run(() => this.#syncLocked());
  }

  #zeroHash: Buffer | null = null;
  /** The hash of a whole block of zeros (computed once). */
  #zeroBlockHash(): Buffer {
    return (this.#zeroHash ??= sha256(Buffer.alloc(this.#blockSize)));
  }

  /**
   * Hashes and stages blocks. With `owned`, each block is (a view of) a blockBuffers buffer
   * the caller holds once more for the store (BufferPool.hold) and must not change again: a
   * raw record's payload is that buffer itself, not a copy, and the store gives its hold back
   * once the record is written; a block not kept (held already, zeros, compressed) now.
   */
  async #stage(blocks: readonly Uint8Array[], compress: boolean, owned = false, kept = false, how: { pre?: { hashes: Buffer[]; crcs: number[] }; hashHere?: boolean; split?: boolean; around?: boolean } = {}): Promise<Buffer[]> {
    const { hashHere = false, split = false, around = false } = how;
    let pre = how.pre;
    const out: Buffer[] = [];
    const todo: { data: Uint8Array; hash: Buffer; key: string; crc: number | undefined }[] = [];
    const seen = new Set<string>();
    const done = (data: Uint8Array): void => {
      if (owned) blockBuffers.give(data);
    };
    try {
      for (const data of blocks) {
        if (data.byteLength > this.#blockSize) {
          throw new EngineError('BAD_ARGUMENT', `a block holds at most ${this.#blockSize} bytes, not ${data.byteLength}`);
        }
      }
    } catch (err) {
      blocks.forEach(done);
      throw err;
    }
    // Blocks in shared memory (the write cache's and import's pool buffers), enough of them to
    // be worth a round trip: hashed, with their raw records' CRCs, by the block hasher's worker
    // where they lie, while the event loop goes on (a 1 MiB dd through the mount spent about
    // half of that thread hashing).
    if (pre === undefined && blockHasher.usable && forWorker(blocks)) {
      const prefixes = new Uint8Array(16 * blocks.length);
      blocks.forEach((d, i) => prefixes.set(recordHeadPrefix(CODEC_RAW, d.byteLength, d.byteLength), 16 * i));
      try {
        pre = await blockHasher.hashViews(blocks, prefixes, { split });
      } catch {
        // the worker failed: hashed below, on this thread
      }
    }
    // Big blocks are hashed in the thread pool, in parallel, while the event loop serves
    // requests; small ones here (a thread-pool round trip costs more than hashing a few KiB).
    // Blocks hashed already (stageIn) come with their records' CRCs.
    // Blocks hashed already: a zero block is known by its hash, not by a scan on this thread.
    const zero = blocks.map((data, i) => data.byteLength === this.#blockSize && (pre === undefined ? isZero(data) : pre.hashes[i]!.equals(this.#zeroBlockHash())));
    // hashHere (the mount's write cache): on this thread. WebCrypto copies each block into a
    // fresh allocation before hashing it in the pool: measured on 128 KiB blocks, that costs
    // this thread about as much as hashing them here, and doubles the CPU the machine spends.
    const hashed = pre?.hashes ?? (await Promise.all(blocks.map((data, i) => (zero[i] ? null : !hashHere && data.byteLength >= ASYNC_HASH_BYTES && !(data.buffer instanceof SharedArrayBuffer) ? sha256Async(data) : sha256(data)))));
    for (const [i, data] of blocks.entries()) {
      if (zero[i]) {
        out.push(Buffer.from(ZERO_BLOCK));
        done(data);
        continue;
      }
      const hash = hashed[i]!;
      const key = hash.toString('hex');
      out.push(hash);
      if (seen.has(key) || this.#present(hash, key)) {
        done(data);
        continue;
      }
      seen.add(key);
      todo.push({ data, hash, key, crc: pre?.crcs[i] });
    }
    if (todo.length === 0) return out;
    let payloads: (Buffer | null)[];
    try {
      payloads = compress
        ? await Promise.all(todo.map(({ data }) => deflateRaw(data, { level: zc.Z_BEST_SPEED }).then((z) => (z.byteLength * 8 <= data.byteLength * 7 ? z : null))))
        : todo.map(() => null);
      this.#checkWritable();
    } catch (err) {
      for (const { data } of todo) done(data);
      throw err;
    }
    todo.forEach(({ data, hash, key, crc }, i) => {
      if (this.#present(hash, key)) {
        done(data); // put by someone else while we compressed
        return;
      }
      const z = payloads[i]!;
      let staged: Staged;
      const size = data.byteLength;
      if (z === null && (owned || kept)) {
        const payload = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        const head = encodeRecordHead(hash, CODEC_RAW, payload, size, crc);
        const lease = owned ? undefined : FrameLease.of(payload);
        lease?.hold();
        staged = { head, payload, owned, lease, loc: this.#place([head, payload], hash, key, CODEC_RAW, size, around) };
      } else {
        const rec = z === null ? encodeRecord(hash, CODEC_RAW, data, size, crc) : encodeRecord(hash, CODEC_DEFLATE, z, size);
        done(data);
        const head = rec.subarray(0, RECORD_HEADER_BYTES);
        const payload = rec.subarray(RECORD_HEADER_BYTES);
        staged = { head, payload, owned: false, loc: this.#place([rec], hash, key, z === null ? CODEC_RAW : CODEC_DEFLATE, size, around) };
      }
      this.#staged.set(key, staged);
      this.#count(staged.loc, +1);
    });
    return out;
  }

  /** Appends a new record (as one or two buffers) and queues its index row. */
  #place(parts: Buffer[], hash: Buffer, key: string, codec: number, size: number, around = false): BlockLocation {
    const bytes = parts.reduce((n, b) => n + b.byteLength, 0);
    const at = this.#append(parts, bytes, around);
    const loc: BlockLocation = { ...at, stored: bytes - RECORD_HEADER_BYTES, size, codec };
    this.#queue.at(-1)!.rows.push({ hash, key, loc });
    return loc;
  }

  #present(hash: Buffer, key: string): boolean {
    if (this.#staged.has(key) || this.#index.has(hash)) {
      this.#touched?.add(key);
      return true;
    }
    return false;
  }

  /** Assigns a record its place at the end of the active pack and queues it. */
  #append(parts: Buffer[], bytes: number, around = false): { pack: number; offset: number } {
    let a = this.#active;
    if (a === null || (a.size > PACK_HEADER_BYTES && a.size + bytes > this.#packBytes)) a = this.#roll();
    const offset = a.size;
    a.size += bytes;
    const last = this.#queue.at(-1);
    if (last !== undefined && last.pack === a.n && last.offset + last.bytes === offset) {
      last.bufs.push(...parts);
      last.bytes += bytes;
      if (around) last.around += bytes;
    } else {
      this.#queue.push({ pack: a.n, offset, bufs: [...parts], bytes, create: false, around: around ? bytes : 0, rows: [] });
    }
    this.#queuedBytes += bytes;
    return { pack: a.n, offset };
  }

  #roll(): PackInfo {
    const n = this.#nextPack++;
    this.#rolls++;
    const info: PackInfo = { n, size: PACK_HEADER_BYTES, live: 0, count: 0, onDisk: false };
    this.#packs.set(n, info);
    this.#active = info;
    this.#queue.push({ pack: n, offset: 0, bufs: [encodePackHeader(n)], bytes: PACK_HEADER_BYTES, create: true, around: 0, rows: [] });
    this.#queuedBytes += PACK_HEADER_BYTES;
    return info;
  }

  /**
   * Writes what is queued (one positioned write per pack), then indexes it. Holds #io.
   * Returns where the highest pack ended when the queue was taken: what this flush wrote.
   */
  async #flush(): Promise<SyncedMark | null> {
    const mark = this.#end();
    if (this.#queue.length === 0) return mark;
    const queue = this.#queue;
    const bytes = this.#queuedBytes;
    this.#queue = [];
    this.#queuedBytes = 0;
    const rows: Row[] = [];
    try {
      for (const w of queue) {
        const info = this.#packs.get(w.pack)!;
        if (w.create && !info.onDisk) {
          await this.#files.create(w.pack);
          info.onDisk = true;
          this.#dirDirty = true;
        }
        this.#dirty.add(w.pack);
        // Around the page cache when most of the run asked for it (no one reads it back soon).
        await this.#files.with(w.pack, (fh) => this.#appends.write(w.pack, fh, w.offset, w.bufs, w.bytes, { direct: 2 * w.around >= w.bytes }));
        rows.push(...w.rows);
        this.#unsynced += w.bytes;
        if (this.#unsynced >= EARLY_SYNC_BYTES) this.#syncEarly(w.pack);
      }
      if (rows.length > 0) this.#index.putMany(rows.map((r) => [r.hash, r.loc] as const));
    } catch (err) {
      // Nothing is lost: the records stay staged and the next flush writes them again, in place.
      this.#queue = queue.concat(this.#queue);
      this.#queuedBytes += bytes;
      throw ioError(err, `cannot write blocks to ${this.dir}`);
    }
    for (const r of rows) {
      const s = this.#staged.get(r.key);
      if (s?.loc !== r.loc) continue;
      this.#staged.delete(r.key);
      if (s.owned) blockBuffers.give(s.payload);
      s.lease?.release();
    }
    return mark;
  }

  /**
   * Starts an fdatasync of the pack in the background (one at a time). It marks nothing
   * durable (sync() does); it only starts the disk early. A failure breaks the store as a
   * failed sync() would: after it the kernel may have dropped dirty pages, and a later
   * fdatasync could succeed without them.
   */
  #syncEarly(pack: number): void {
    if (this.#early !== null) return;
    this.#unsynced = 0;
    this.#early = this.#files
      .with(pack, (fh) => fh.datasync())
      .catch((err: unknown) => {
        this.#broken ??= ioError(err, `cannot make the blocks in ${this.dir} durable; reopen the store`);
      })
      .finally(() => {
        this.#early = null;
      });
  }

  /** Flush, fdatasync every pack written since the last sync, fsync the directory if a pack was made. Holds #io. */
  async #syncLocked(): Promise<void> {
    if (this.#broken) throw this.#broken;
    const mark = await this.#flush();
    if (this.#early !== null) await this.#early;
    if (this.#broken) throw this.#broken;
    this.#unsynced = 0;
    const dirty = [...this.#dirty];
    try {
      await Promise.all(dirty.map((n) => this.#files.with(n, (fh) => fh.datasync())));
      if (this.#dirDirty) {
        await syncDir(this.dir);
        this.#dirDirty = false;
      }
    } catch (err) {
      // After a failed fdatasync the kernel may have dropped the dirty pages: what is on
      // disk is unknown, so stop writing rather than acknowledge anything more.
      this.#broken = ioError(err, `cannot make the blocks in ${this.dir} durable; reopen the store`);
      throw this.#broken;
    }
    for (const n of dirty) this.#dirty.delete(n);
    if (mark !== null && (this.#mark === null || mark.pack !== this.#mark.pack || mark.offset !== this.#mark.offset)) await this.#writeMark(mark);
  }

  /** Where the highest pack ends, counting what is queued. */
  #end(): SyncedMark | null {
    let top: PackInfo | null = null;
    for (const info of this.#packs.values()) if (top === null || info.n > top.n) top = info;
    return top === null ? null : { pack: top.n, offset: top.size };
  }

  /** `synced` is written, not fsynced: when it reaches the disk, what it claims already has. */
  async #writeMark(mark: SyncedMark): Promise<void> {
    if (this.#markFh === null) {
      const path = join(this.dir, SYNCED_FILE);
      this.#markFh = await openFile(path, 'r+').catch(() => openFile(path, 'w+'));
    }
    const b = encodeSynced(mark);
    await this.#markFh.write(b, 0, b.byteLength, 0);
    this.#mark = mark;
  }

  // ---------------------------------------------------------------- reading

  /**
   * The content of a block (a fresh buffer). ZERO_BLOCK reads as blockSize zeros. A whole
   * block read is not kept in the cache (the kernel's page cache above FUSE keeps what was
   * read whole); a partial read by getRange is, for the reads of the rest of the block.
   */
  async get(hash: Uint8Array): Promise<Uint8Array> {
    if (isZero(hash) && hash.byteLength === 32) {
      this.#checkOpen();
      return Buffer.alloc(this.#blockSize);
    }
    const { c, own } = await this.#content(hash);
    return own ? c : Buffer.from(c);
  }

  /**
   * Bytes [offset, offset + length) of a block's content (shorter when the content is);
   * ZERO_BLOCK yields `length` zeros. The buffer is the caller's to read, not to change.
   */
  async getRange(hash: Uint8Array, offset: number, length: number): Promise<Uint8Array> {
    if (isZero(hash) && hash.byteLength === 32) {
      this.#checkOpen();
      return Buffer.alloc(length);
    }
    const { c, own } = await this.#content(hash);
    if (offset > 0 || offset + length < c.byteLength) {
      this.#cache.set(hex(hash), c);
      return Buffer.from(c.subarray(Math.min(offset, c.byteLength), Math.min(offset + length, c.byteLength)));
    }
    // A whole block read from its pack is a buffer of its own: handed over without a copy.
    // (Concurrent readers of one block share it; readers only read.)
    return own ? c : Buffer.from(c);
  }

  /**
   * Starts reading a block that a read will probably ask for soon (the next block of a
   * sequential read), so that its pack read and check overlap the request before it. The
   * block waits for that read (at most MAX_AHEAD blocks; the oldest go). A block that is not
   * here is left alone: the read itself fetches it (Unreal content).
   */
  prefetch(hash: Uint8Array): void {
    if (this.#closed || this.#broken !== null || (hash.byteLength === 32 && isZero(hash))) return;
    const key = hex(hash);
    if (this.#ahead.has(key) || this.#staged.has(key) || this.#reading.has(key) || this.#cache.get(key) !== undefined) return;
    if (this.#elsewhere?.(key) === true) return;
    const h = Buffer.from(hash);
    if (this.#locate(h, key) === undefined) return;
    const p = this.#read(h, key);
    p.catch(() => undefined); // reported to the read that takes it
    this.#ahead.set(key, p);
    if (this.#ahead.size > MAX_AHEAD) this.#ahead.delete(this.#ahead.keys().next().value!);
  }

  /** Resolves once every read ahead started so far has finished (its block, or its error, is held for its read). */
  async aheadSettled(): Promise<void> {
    await Promise.all([...this.#ahead.values()].map((p) => p.catch(() => undefined)));
  }

  /**
   * Tells prefetch which blocks reads will find in memory without the store (by hex hash):
   * the placement service's blocks fetched ahead of an Unreal read, which it hands to the
   * read itself. Reading those from their pack again was a pack read and a CRC per block of
   * an Unreal file streamed through the mount, for nothing.
   */
  heldElsewhere(held: ((key: string) => boolean) | null): void {
    this.#elsewhere = held;
  }

  /**
   * Serving blocks to a peer: the raw blocks of `hashes`, read from their packs into `into`
   * with one read per run of records that lie back to back in a pack (a file is written in
   * order, so the blocks a peer streams come mostly in one read a batch, not one each), as
   * views of `into`. Each record's header is checked against the index, and its CRC. null for a block not read this way (staged, cached, compressed, zeros, not
   * here, moved by gc, damaged, or past the room in `into`): get() reads it and says why.
   * With `crcs`, each block read gets its record's CRC field there (what a peer is sent with
   * the block, so it need not compute it). `checkCrc` false leaves the CRC unchecked (a peer
   * that takes the CRCs checks them when a block does not match its hash: a CRC pass over
   * every byte served, on the serving event loop, was about 0.2-0.4 CPU-s a GiB).
   */
  async readRuns(hashes: readonly Uint8Array[], into: Buffer, crcs?: number[], checkCrc = true): Promise<Array<Buffer | null>> {
    this.#checkOpen();
    const out: Array<Buffer | null> = hashes.map(() => null);
    const found: Array<{ i: number; loc: BlockLocation }> = [];
    const seen = new Map<string, number>();
    const same: Array<[number, number]> = [];
    hashes.forEach((hash, i) => {
      if (hash.byteLength !== 32 || isZero(hash)) return;
      const key = hex(hash);
      const first = seen.get(key);
      if (first !== undefined) {
        same.push([i, first]);
        return;
      }
      seen.set(key, i);
      if (this.#staged.has(key) || this.#cache.get(key) !== undefined) return;
      const loc = this.#locate(hash, key);
      if (loc !== undefined && loc.codec === CODEC_RAW && loc.stored <= this.#blockSize) found.push({ i, loc });
    });
    found.sort((a, b) => a.loc.pack - b.loc.pack || a.loc.offset - b.loc.offset);
    // Runs of records back to back in one pack, each placed after the one before in `into`.
    const runs: Array<{ pack: number; offset: number; at: number; bytes: number; members: typeof found }> = [];
    let room = 0;
    for (const f of found) {
      const bytes = RECORD_HEADER_BYTES + f.loc.stored;
      if (room + bytes > into.byteLength) break;
      const last = runs.at(-1);
      if (last !== undefined && last.pack === f.loc.pack && last.offset + last.bytes === f.loc.offset) {
        last.bytes += bytes;
        last.members.push(f);
      } else {
        runs.push({ pack: f.loc.pack, offset: f.loc.offset, at: room, bytes, members: [f] });
      }
      room += bytes;
    }
    await Promise.all(
      runs.map(async (run) => {
        let n: number;
        try {
          n = (await this.#files.with(run.pack, (fh) => fh.read(into, run.at, run.bytes, run.offset))).bytesRead;
        } catch {
          return; // gc moved or dropped the pack: get() looks again
        }
        let at = run.at;
        for (const { i, loc } of run.members) {
          const end = at + RECORD_HEADER_BYTES + loc.stored;
          if (end > run.at + n) return;
          const head = into.subarray(at, at + RECORD_HEADER_BYTES);
          const payload = into.subarray(at + RECORD_HEADER_BYTES, end);
          if (typeof checkedAt(head, payload, hashes[i]!, loc, checkCrc) !== 'string') {
            out[i] = payload;
            if (crcs !== undefined) crcs[i] = head.readUInt32LE(48);
          }
          at = end;
        }
      }),
    );
    for (const [i, first] of same) {
      out[i] = out[first]!;
      if (crcs !== undefined && crcs[first] !== undefined) crcs[i] = crcs[first]!;
    }
    return out;
  }

  has(hash: Uint8Array): boolean {
    if (hash.byteLength === 32 && isZero(hash)) return true;
    const key = hex(hash);
    return this.#staged.has(key) || this.#locate(hash, key) !== undefined;
  }

  stats(): BlockStats {
    let fileBytes = 0;
    for (const p of this.#packs.values()) fileBytes += p.size;
    return { blocks: this.#blocks, storedBytes: this.#storedBytes, logicalBytes: this.#logicalBytes, packs: this.#packs.size, fileBytes };
  }

  /**
   * A block's content; `own` when the buffer is no one else's (read from its pack now, or
   * copied from a staged record: a staged payload may be a pool buffer, given back and reused
   * once written, so it is copied before anything else can run).
   */
  async #content(hash: Uint8Array): Promise<{ c: Buffer; own: boolean }> {
    this.#checkOpen();
    const key = hex(hash);
    const staged = this.#staged.get(key);
    if (staged !== undefined) return { c: await this.#decodeStaged(staged, Buffer.from(hash)), own: true };
    const ahead = this.#ahead.get(key);
    if (ahead !== undefined) {
      this.#ahead.delete(key);
      return { c: await ahead, own: true };
    }
    const cached = this.#cache.get(key);
    if (cached !== undefined) return { c: cached, own: false };
    const reading = this.#reading.get(key);
    if (reading !== undefined) return { c: await reading, own: true };
    const p = this.#read(Buffer.from(hash), key).finally(() => this.#reading.delete(key));
    this.#reading.set(key, p);
    return { c: await p, own: true };
  }

  /** The content of a staged record, as a buffer of its own (copied synchronously). */
  #decodeStaged(s: Staged, hash: Buffer): Promise<Buffer> | Buffer {
    if (s.loc.codec === CODEC_RAW) return Buffer.from(s.payload);
    return this.#decode(s.head, s.payload, hash, s.loc, true);
  }

  async #read(hash: Buffer, key: string): Promise<Buffer> {
    for (let attempt = 0; ; attempt++) {
      const loc = this.#locate(hash, key);
      if (loc === undefined) {
        const staged = this.#staged.get(key); // staged again after gc dropped it
        if (staged !== undefined) return this.#decodeStaged(staged, hash);
        throw new EngineError('BLOCK_MISSING', `block ${key} is not in the block store at ${this.dir}`);
      }
      // gc may move the block between the lookup and the read: then look again.
      const moved = (): boolean => attempt < 3 && !sameLoc(this.#locate(hash, key), loc);
      let rec: Buffer;
      try {
        rec = await this.#files.with(loc.pack, (fh) => readAt(fh, loc.offset, RECORD_HEADER_BYTES + loc.stored));
      } catch (err) {
        if (moved()) continue;
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new EngineError('BLOCK_MISSING', `block ${key} is indexed in ${packFileName(loc.pack)}, which is missing from ${this.dir}`, { cause: err });
        }
        throw ioError(err, `cannot read block ${key} from ${packFileName(loc.pack)} at offset ${loc.offset}`);
      }
      try {
        if (rec.byteLength < RECORD_HEADER_BYTES + loc.stored) throw this.#corrupt(hash, loc, `the pack ends ${RECORD_HEADER_BYTES + loc.stored - rec.byteLength} bytes short of the record`);
        return await this.#decode(rec.subarray(0, RECORD_HEADER_BYTES), rec.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + loc.stored), hash, loc);
      } catch (err) {
        if (moved()) continue;
        throw err;
      }
    }
  }

  #corrupt(hash: Buffer, loc: BlockLocation, what: string, cause?: unknown): EngineError {
    return new EngineError('BLOCK_CORRUPT', `block ${hash.toString('hex')} in ${join(this.dir, packFileName(loc.pack))} at offset ${loc.offset} is corrupt: ${what}`, cause === undefined ? undefined : { cause });
  }

  /**
   * Checks a record against what the index says, and its bytes against the record's CRC-32
   * (header and payload): the hot path of every read, ~2x cheaper than hashing the content
   * again. The SHA-256 names the content when it is put; a record whose CRC holds is the
   * record that was written (a damaged byte, a torn or misplaced record all fail it). A
   * record staged in memory was built here from content just hashed: it is taken as it is.
   */
  async #decode(head: Buffer, payload: Buffer, hash: Buffer, loc: BlockLocation, fresh = false): Promise<Buffer> {
    const corrupt = (what: string, cause?: unknown): EngineError => this.#corrupt(hash, loc, what, cause);
    const h = checkedAt(head, payload, hash, loc, !fresh);
    if (typeof h === 'string') throw corrupt(h);
    let content: Buffer;
    if (h.codec === CODEC_RAW) {
      content = payload;
    } else {
      try {
        content = await inflateRaw(payload, { maxOutputLength: Math.max(1, h.size) });
      } catch (err) {
        throw corrupt(`deflate-raw payload does not inflate (${(err as Error).message})`, err);
      }
    }
    if (content.byteLength !== h.size) throw corrupt(`content is ${content.byteLength} bytes, the header says ${h.size}`);
    return content;
  }

  #locate(hash: Uint8Array, key: string): BlockLocation | undefined {
    if (this.#readOnly && this.#overlay.size > 0) {
      const o = this.#overlay.get(key);
      if (o !== undefined) return o ?? undefined;
    }
    return this.#index.get(hash);
  }

  // ---------------------------------------------------------------- gc

  /**
   * Drops every block for which isLive(hash) is false, rewrites the packs that are mostly
   * dead (copying their live records to the active pack) and cuts dead tails. A block put
   * while gc runs is kept whatever isLive says. The protocol (spec/block-format.md) leaves
   * each block indexed at its old or its new copy at every step.
   */
  async gc(isLive: (hash: Uint8Array) => boolean, opts: { minDeadFraction?: number } = {}): Promise<GcResult> {
    this.#checkWritable();
    return this.#gcLock.run(async () => {
      this.#touched = new Set();
      try {
        return await this.#gc(isLive, opts.minDeadFraction ?? DEFAULT_MIN_DEAD_FRACTION);
      } finally {
        this.#touched = null;
      }
    });
  }

  async #gc(isLive: (hash: Uint8Array) => boolean, minDead: number): Promise<GcResult> {
    const step = async (s: GcStep): Promise<void> => {
      await this.#gcStep?.(s);
    };
    // 1. Plan, on a consistent view: everything put so far is indexed.
    const plan = await this.#io.run(async () => {
      await this.#flush();
      const byPack = new Map<number, { live: Row[]; dead: Row[]; liveBytes: number }>();
      for (const [k, loc] of this.#index.entries()) {
        const hash = Buffer.from(k);
        let p = byPack.get(loc.pack);
        if (p === undefined) byPack.set(loc.pack, (p = { live: [], dead: [], liveBytes: 0 }));
        const row = { hash, key: hash.toString('hex'), loc };
        if (isLive(hash)) {
          p.live.push(row);
          p.liveBytes += RECORD_HEADER_BYTES + loc.stored;
        } else {
          p.dead.push(row);
        }
      }
      // The active pack is sealed when it holds dead blocks, so that dropped records never
      // sit in the pack that open scans for records the index lost.
      if (this.#active !== null && (byPack.get(this.#active.n)?.dead.length ?? 0) > 0) this.#active = null;
      const sealed = [...this.#packs.values()].filter((p) => p !== this.#active && p.onDisk).map((p) => p.n);
      const retire: number[] = [];
      for (const n of sealed) {
        const info = this.#packs.get(n)!;
        const p = byPack.get(n);
        const dead = info.size - (p?.liveBytes ?? 0);
        const small = info.size < this.#packBytes / 16;
        if (p === undefined || p.live.length === 0 || dead / info.size >= minDead || (small && p.dead.length > 0)) retire.push(n);
      }
      return { byPack, sealed, retire };
    });

    // 2. Copy the live records of the packs to retire, then make the copies durable.
    const moves: { row: Row; to: BlockLocation }[] = [];
    const keep = new Set<number>(); // retired packs that must stay after all
    const corrupt: string[] = [];
    let copiedBytes = 0;
    const rollsBefore = this.#rolls;
    for (const n of plan.retire) {
      const live = [...(plan.byPack.get(n)?.live ?? [])].sort((a, b) => a.loc.offset - b.loc.offset);
      for (let i = 0; i < live.length; ) {
        const start = live[i]!.loc.offset;
        let j = i;
        let end = start;
        while (j < live.length && live[j]!.loc.offset === end && end - start < COPY_RUN_BYTES) end += RECORD_HEADER_BYTES + live[j++]!.loc.stored;
        const run = live.slice(i, j);
        i = j;
        const buf = await this.#files.with(n, (fh) => readAt(fh, start, end - start));
        for (const row of run) {
          const at = row.loc.offset - start;
          const h = at + RECORD_HEADER_BYTES + row.loc.stored <= buf.byteLength ? checkRecord(buf, at) : 'the pack ends inside the record';
          if (typeof h === 'string' || !h.hash.equals(row.hash) || h.stored !== row.loc.stored || h.size !== row.loc.size || h.codec !== row.loc.codec) {
            corrupt.push(`block ${row.key} in ${packFileName(n)} at offset ${row.loc.offset}: ${typeof h === 'string' ? h : 'the record disagrees with the index'}`);
            keep.add(n);
            continue;
          }
          const rec = buf.subarray(at, at + RECORD_HEADER_BYTES + row.loc.stored);
          const to = this.#append([rec], rec.byteLength);
          moves.push({ row, to: { ...row.loc, ...to } });
          copiedBytes += rec.byteLength;
        }
        if (this.#queuedBytes >= this.#flushBytes) await this.#io.run(() => this.#flush());
      }
    }
    const newPackBytes = (this.#rolls - rollsBefore) * PACK_HEADER_BYTES;
    if (moves.length > 0) await this.#io.run(() => this.#syncLocked());
    await step('copied');

    // 3. Say which packs are going, durably, before the index stops pointing at them.
    let retiring = plan.retire.filter((n) => !keep.has(n));
    if (retiring.length > 0) await this.#writeIntent(retiring);
    await step('intent');

    // 4. Point the index at the copies (one transaction), then drop the dead (another).
    const moveRows = moves.filter((m) => sameLoc(this.#index.get(m.row.hash), m.row.loc));
    if (moveRows.length > 0) this.#index.putMany(moveRows.map((m) => [m.row.hash, m.to] as const));
    for (const m of moveRows) {
      this.#count(m.row.loc, -1);
      this.#count(m.to, +1);
    }
    await step('moved');

    const touched = this.#touched!;
    const kept = new Map<number, Row[]>(); // dead blocks put again during gc
    const drop: Row[] = [];
    for (const p of plan.byPack.values()) {
      for (const row of p.dead) {
        if (touched.has(row.key)) {
          kept.set(row.loc.pack, [...(kept.get(row.loc.pack) ?? []), row]);
          continue;
        }
        if (sameLoc(this.#index.get(row.hash), row.loc)) drop.push(row);
      }
    }
    retiring = retiring.filter((n) => !kept.has(n));
    if (drop.length > 0) this.#index.removeMany(drop.map((r) => r.hash));
    for (const r of drop) {
      this.#count(r.loc, -1);
      this.#cache.delete(r.key);
    }
    await step('dropped');

    // 5. Cut the dead tails of the sealed packs that stay.
    let cut = 0;
    await this.#io.run(async () => {
      for (const n of plan.sealed) {
        const info = this.#packs.get(n);
        if (info === undefined || retiring.includes(n) || info === this.#active) continue;
        let end = PACK_HEADER_BYTES;
        for (const r of [...(plan.byPack.get(n)?.live ?? []), ...(kept.get(n) ?? [])]) end = Math.max(end, r.loc.offset + RECORD_HEADER_BYTES + r.loc.stored);
        if (end >= info.size) continue;
        await this.#files.with(n, async (fh) => {
          await fh.truncate(end);
          await fh.datasync();
        });
        cut += info.size - end;
        info.size = end;
      }
    });

    // 6. Delete the retired packs, then the intent.
    let deleted = 0;
    for (const n of retiring) {
      const info = this.#packs.get(n)!;
      this.#files.retire(n);
      await this.#appends.forgetPack(n);
      await unlink(this.#files.path(n));
      this.#packs.delete(n);
      this.#dirty.delete(n);
      deleted += info.size;
    }
    if (retiring.length > 0) await syncDir(this.dir);
    await step('unlinked');
    await rm(join(this.dir, GC_INTENT_FILE), { force: true });

    return { freedBlocks: drop.length, freedBytes: deleted + cut - copiedBytes - newPackBytes, packsRewritten: retiring.length, copiedBytes, corrupt };
  }

  async #writeIntent(retire: readonly number[]): Promise<void> {
    const tmp = join(this.dir, INTENT_TMP);
    const fh = await openFile(tmp, 'w');
    try {
      const b = encodeGcIntent(retire);
      await fh.write(b, 0, b.byteLength, 0);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, join(this.dir, GC_INTENT_FILE));
    await syncDir(this.dir);
  }

  // ---------------------------------------------------------------- recovery

  /** Rebuilds the index from the packs alone; returns the number of blocks indexed. */
  async reindex(): Promise<number> {
    this.#checkWritable();
    return this.#gcLock.run(() =>
      this.#io.run(async () => {
        await this.#flush();
        const found = new Map<string, Row>();
        for (const info of [...this.#packs.values()].sort((a, b) => a.n - b.n)) {
          if (!info.onDisk) continue;
          const scan = await this.#scan(info, PACK_HEADER_BYTES);
          for (const r of scan) found.set(r.key, r); // the latest copy wins
        }
        this.#index.clear();
        const rows = [...found.values()];
        for (let i = 0; i < rows.length; i += INDEX_BATCH) this.#index.putMany(rows.slice(i, i + INDEX_BATCH).map((r) => [r.hash, r.loc] as const));
        this.#blocks = this.#storedBytes = this.#logicalBytes = 0;
        for (const p of this.#packs.values()) p.live = p.count = 0;
        for (const r of rows) this.#count(r.loc, +1);
        for (const s of this.#staged.values()) this.#count(s.loc, +1); // queued during the flush
        this.#cache.clear();
        return rows.length;
      }),
    );
  }

  /**
   * Scans pack `info` from `from`: records bad regions, cuts a torn tail (unless read-only)
   * and returns the whole records.
   */
  async #scan(info: PackInfo, from: number): Promise<Row[]> {
    if (from === PACK_HEADER_BYTES && info.size >= PACK_HEADER_BYTES) {
      const head = await this.#files.with(info.n, (fh) => readAt(fh, 0, PACK_HEADER_BYTES));
      const n = decodePackHeader(head);
      if (n !== info.n) this.recovery.badRegions.push({ pack: info.n, offset: 0, length: PACK_HEADER_BYTES, reason: n === null ? 'bad pack header' : `the header names pack ${n}` });
    }
    const scan = await this.#files.with(info.n, (fh) => scanPack(fh, from, info.size));
    this.recovery.scannedBytes += info.size - from;
    for (const b of scan.bad) this.recovery.badRegions.push({ pack: info.n, ...b });
    if (scan.torn !== null) {
      this.recovery.tornTails.push({ pack: info.n, offset: scan.torn.offset, bytes: scan.torn.length, reason: scan.torn.reason });
      if (!this.#readOnly) {
        await this.#files.with(info.n, async (fh) => {
          await fh.truncate(scan.validEnd);
          await fh.datasync();
        });
        info.size = scan.validEnd;
      }
    }
    return scan.records.map((r) => ({
      hash: r.hash,
      key: r.hash.toString('hex'),
      loc: { pack: info.n, offset: r.offset, stored: r.stored, size: r.size, codec: r.codec },
    }));
  }

  async #recover(): Promise<void> {
    if (!this.#readOnly) await mkdir(this.dir, { recursive: true });
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !this.#readOnly) throw err;
      names = [];
    }
    if (!this.#readOnly && names.includes(INTENT_TMP)) await rm(join(this.dir, INTENT_TMP), { force: true });
    const mark = names.includes(SYNCED_FILE) ? decodeSynced(await readFile(join(this.dir, SYNCED_FILE))) : null;
    const intent = names.includes(GC_INTENT_FILE) ? (decodeGcIntent(await readFile(join(this.dir, GC_INTENT_FILE))) ?? []) : [];
    const numbers = names.map(parsePackFileName).filter((n): n is number => n !== null).sort((a, b) => a - b);
    // Never reuse the number of a pack that `synced` or a gc intent may still name.
    this.#nextPack = Math.max(mark?.pack ?? 0, ...intent) + 1;
    for (const n of numbers) {
      const { size } = await stat(this.#files.path(n));
      this.#packs.set(n, { n, size, live: 0, count: 0, onDisk: true });
      this.#nextPack = Math.max(this.#nextPack, n + 1);
    }
    // A pack shorter than its header was torn as it was made: give it its header.
    for (const info of this.#packs.values()) {
      if (info.size >= PACK_HEADER_BYTES || this.#readOnly) continue;
      const head = encodePackHeader(info.n);
      await this.#files.with(info.n, async (fh) => {
        await fh.truncate(0);
        await fh.write(head, 0, head.byteLength, 0);
        await fh.datasync();
      });
      this.recovery.tornTails.push({ pack: info.n, offset: 0, bytes: info.size, reason: 'incomplete pack header' });
      info.size = PACK_HEADER_BYTES;
    }

    // Bytes after the last sync (by `synced`) are checked record by record; before it, trusted.
    const windowStart = (n: number): number => (mark === null || n > mark.pack ? PACK_HEADER_BYTES : n < mark.pack ? Infinity : Math.max(PACK_HEADER_BYTES, mark.offset));
    const drops: Buffer[] = [];
    const dropped = new Set<string>();
    const unverified = new Map<string, Row>();
    const indexedEnd = new Map<number, number>();
    const drop = (hash: Buffer): void => {
      drops.push(hash);
      dropped.add(hash.toString('hex'));
    };
    for (const [k, loc] of this.#index.entries()) {
      const info = this.#packs.get(loc.pack);
      const end = loc.offset + RECORD_HEADER_BYTES + loc.stored;
      if (info === undefined || loc.offset < PACK_HEADER_BYTES || end > info.size) {
        drop(Buffer.from(k));
        continue;
      }
      if (loc.offset >= windowStart(loc.pack)) {
        const hash = Buffer.from(k);
        unverified.set(`${loc.pack}:${loc.offset}`, { hash, key: hash.toString('hex'), loc });
        continue;
      }
      this.#count(loc, +1);
      indexedEnd.set(loc.pack, Math.max(indexedEnd.get(loc.pack) ?? 0, end));
    }

    // Scan from the end of the last trusted indexed record, or from the last sync if sooner.
    const retired = new Set(intent);
    const found = new Map<string, Row>();
    const scanned: number[] = [];
    for (const info of this.#packs.values()) {
      const from = Math.min(windowStart(info.n), indexedEnd.get(info.n) ?? PACK_HEADER_BYTES);
      if (from >= info.size) continue;
      const rows = await this.#scan(info, from);
      scanned.push(info.n);
      for (const r of rows) {
        const u = unverified.get(`${info.n}:${r.loc.offset}`);
        if (u !== undefined && u.hash.equals(r.hash) && sameLoc(u.loc, r.loc)) {
          unverified.delete(`${info.n}:${r.loc.offset}`);
          this.#count(r.loc, +1);
          continue;
        }
        // Records of a pack that gc was retiring are copies of blocks held elsewhere, or dead.
        if (!retired.has(info.n)) found.set(r.key, r);
      }
    }
    for (const u of unverified.values()) drop(u.hash);
    const adds: Row[] = [];
    for (const r of found.values()) {
      if (!dropped.has(r.key) && this.#index.has(r.hash)) continue;
      adds.push(r);
      this.#count(r.loc, +1);
    }
    this.recovery.droppedEntries = drops.length;
    this.recovery.reindexed = adds.length;

    if (this.#readOnly) {
      for (const h of drops) this.#overlay.set(h.toString('hex'), null);
      for (const r of adds) this.#overlay.set(r.key, r.loc);
    } else {
      if (drops.length > 0) this.#index.removeMany(drops);
      for (let i = 0; i < adds.length; i += INDEX_BATCH) this.#index.putMany(adds.slice(i, i + INDEX_BATCH).map((r) => [r.hash, r.loc] as const));
    }

    // An interrupted gc: delete the retired packs that nothing is indexed in any more.
    let dirChanged = false;
    if (!this.#readOnly) {
      for (const n of retired) {
        const info = this.#packs.get(n);
        if (info === undefined || info.count > 0) continue;
        this.#files.retire(n);
        await this.#appends.forgetPack(n);
        await unlink(this.#files.path(n));
        this.#packs.delete(n);
        this.recovery.finishedGc.push(n);
        dirChanged = true;
      }
      if (names.includes(GC_INTENT_FILE)) {
        await rm(join(this.dir, GC_INTENT_FILE), { force: true });
        dirChanged = true;
      }
      // What was checked is now trusted by the next open: make sure it is on disk.
      for (const n of scanned) if (this.#packs.has(n)) await this.#files.with(n, (fh) => fh.datasync());
      if (dirChanged) await syncDir(this.dir);
    }

    const top = this.#packs.get(Math.max(0, ...this.#packs.keys()));
    if (top !== undefined && !this.#readOnly) {
      if (top.size < this.#packBytes) this.#active = top;
      await this.#writeMark({ pack: top.n, offset: top.size });
    }
  }

  // ---------------------------------------------------------------- lifecycle

  /** Makes everything durable and closes the files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#gcLock.run(() => this.#io.run(async () => {
      if (this.#closed) return;
      try {
        if (!this.#readOnly && this.#broken === null) await this.#syncLocked();
      } finally {
        this.#closed = true;
        if (this.#early !== null) await this.#early;
        // Reads ahead still under way finish before the files close (their results are dropped).
        await this.aheadSettled();
        this.#ahead.clear();
        await this.#appends.forget();
        await this.#files.closeAll();
        await this.#markFh?.close().catch(() => undefined);
        this.#markFh = null;
        this.#cache.clear();
      }
    }));
  }

  #count(loc: BlockLocation, sign: 1 | -1): void {
    const info = this.#packs.get(loc.pack);
    if (info !== undefined) {
      info.live += sign * (RECORD_HEADER_BYTES + loc.stored);
      info.count += sign;
    }
    this.#blocks += sign;
    this.#storedBytes += sign * loc.stored;
    this.#logicalBytes += sign * loc.size;
  }

  #checkOpen(): void {
    if (this.#closed) throw new EngineError('IO', `the block store at ${this.dir} is closed`);
  }

  #checkWritable(): void {
    this.#checkOpen();
    if (this.#readOnly) throw new EngineError('READ_ONLY', `the block store at ${this.dir} is open read-only`);
    if (this.#broken !== null) throw this.#broken;
  }
}

function isZero(b: Uint8Array): boolean {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let i = 0;
  for (; i < buf.byteLength && i < 64; i++) if (buf[i] !== 0) return false;
  if (i === buf.byteLength) return true;
  return buf.equals(zeros(buf.byteLength));
}

let zeroBuf = Buffer.alloc(0);
function zeros(n: number): Buffer {
  if (zeroBuf.byteLength < n) zeroBuf = Buffer.alloc(n);
  return zeroBuf.subarray(0, n);
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function sameLoc(a: BlockLocation | undefined, b: BlockLocation): boolean {
  return a !== undefined && a.pack === b.pack && a.offset === b.offset && a.stored === b.stored && a.size === b.size && a.codec === b.codec;
}

function ioError(err: unknown, what: string): EngineError {
  if (err instanceof EngineError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const msg = `${what}: ${(err as Error).message}`;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new EngineError('NO_SPACE', `${what}: no space left on the device`, { cause: err });
  if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') return new EngineError('READ_ONLY', msg, { cause: err });
  return new EngineError('IO', msg, { cause: err });
}
