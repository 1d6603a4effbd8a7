/**
 * Hashing received blocks off the event loop: a worker thread that computes, for blocks
 * lying in one buffer (a sync message: a peer's blocks, back to back), their SHA-256 and the
 * CRC-32 of the raw record that will store each (spec/block-format.md: the CRC covers the
 * record's first 48 header bytes, which end with the hash, then the payload). The buffer is
 * moved to the worker and back (transferred, not copied), so the event loop only posts a
 * few numbers per block.
 *
 * Why: receiving an Unreal file over loopback, the event loop of the receiving peer is what
 * limits the stream (it also decrypts every frame). WebCrypto's digest, which hashed
 * received blocks in the thread pool before, first copies each block into a fresh native
 * buffer on the event loop, and the record's CRC was computed there too: together about a
 * quarter of that thread (measured with --cpu-prof, tools/bench/placement.ts).
 *
 * The same worker seals and opens large transport frames in place in shared memory
 * (engine/sync/aead.ts sealShared, openInPlace): node:crypto allocates every output it makes,
 * and there those allocations land in the worker's small heap, cheap to collect, instead of
 * the event loop's.
 *
 * A second worker takes half of each large batch of blocks in shared memory that the mount's
 * write cache or an import hands over (hashViews `split`): their writers wait for the hashes.
 * Everything else goes to the first, in the order posted.
 *
 * The worker knows nothing of the record format: it is handed each record's 16-byte header
 * prefix (block-pack.ts recordHeadPrefix) and computes crc32(payload, crc32(prefix || hash)).
 * The worker is plain CommonJS run with `eval`, like log/signature-pool.ts's.
 */
import { Worker } from 'node:worker_threads';

export interface Hashed {
  readonly hashes: Buffer[];
  /** CRC-32 of prefix || hash || payload of each span: its raw record's CRC field. */
  readonly crcs: number[];
}

export interface HashedSpans extends Hashed {
  /** The buffer, back from the worker (the one handed over is detached). */
  readonly buffer: ArrayBuffer;
}

/** The SHA-256 of each block of a message of blocks, hashed where it was opened (Opener.openInPlace `blocks`). */
export interface OpenedBlocks {
  /** [offset, length] of each block's content in the message. */
  readonly spans: Float64Array;
  /** 32 bytes a block. */
  readonly hashes: Buffer;
}

interface Job {
  readonly resolve: (out: HashedSpans & { opened?: boolean; sealed?: number; blocks?: OpenedBlocks }) => void;
  readonly reject: (err: Error) => void;
}

const SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash, createCipheriv, createDecipheriv } = require('node:crypto');
const { crc32 } = require('node:zlib');
const head = Buffer.alloc(48);
const CHUNK = 64 * 1024;
// The blocks of a BLOCKS_CRC message (spec/wire-format.md, Messages; engine/sync/messages.ts):
// type 10 || count (u32) || count x (hash (32) || len (u32) || crc (u32) || content): each
// content's [offset, length] in the message, or null when it is not one, or malformed (its
// reader refuses it), or not what the caller hashes here (\`want\`: at least minCount blocks,
// each of minBytes to maxBytes).
function blockSpans(plain, want) {
  if (plain.byteLength < 5 || plain[0] !== 10) return null;
  const n = plain.readUInt32BE(1);
  if (n < want.minCount || n * 40 > plain.byteLength - 5) return null;
  const spans = new Float64Array(2 * n);
  let at = 5;
  for (let i = 0; i < n; i++) {
    if (at + 40 > plain.byteLength) return null;
    const len = plain.readUInt32BE(at + 32);
    at += 40;
    if (len < want.minBytes || len > want.maxBytes || at + len > plain.byteLength) return null;
    spans[2 * i] = at;
    spans[2 * i + 1] = len;
    at += len;
  }
  return at === plain.byteLength ? spans : null;
}
function open({ cipher, key, nonce, aad, tagBytes, sealed }) {
  // In place: each chunk's plaintext is copied over its ciphertext (update's outputs are
  // small and die young in this thread's small heap).
  const body = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength - tagBytes);
  const d = createDecipheriv(cipher, key, nonce, { authTagLength: tagBytes });
  d.setAAD(aad, { plaintextLength: body.byteLength });
  d.setAuthTag(Buffer.from(sealed.buffer, sealed.byteOffset + body.byteLength, tagBytes));
  // fill: one memcpy into shared memory (engine/copy-bytes.ts)
  for (let o = 0; o < body.byteLength; o += CHUNK) {
    const out = d.update(body.subarray(o, Math.min(body.byteLength, o + CHUNK)));
    if (out.byteLength > 0) body.fill(out, o, o + out.byteLength);
  }
  try {
    d.final();
    return true;
  } catch {
    return false;
  }
}
function seal({ cipher, key, nonce, aad, tagBytes, parts, out }) {
  // Into shared memory: each chunk's ciphertext copied into place, then the tag.
  const into = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  const c = createCipheriv(cipher, key, nonce, { authTagLength: tagBytes });
  c.setAAD(aad, { plaintextLength: parts.reduce((n, p) => n + p.byteLength, 0) });
  let at = 0;
  const put = (b) => {
    if (b.byteLength > 0) into.fill(b, at, at + b.byteLength);
    at += b.byteLength;
  };
  for (const p of parts) for (let o = 0; o < p.byteLength; o += CHUNK) put(c.update(p.subarray(o, Math.min(p.byteLength, o + CHUNK))));
  c.final();
  put(c.getAuthTag());
  return at;
}
parentPort.on('message', (msg) => {
  const { id, buffer, spans, views, prefixes } = msg;
  if (id === undefined) return; // a frame handed over to be let go (FrameLease)
  if (msg.seal !== undefined) {
    let bytes = -1;
    try {
      bytes = seal(msg.seal);
    } catch {}
    parentPort.postMessage({ id, sealed: bytes });
    return;
  }
  if (msg.open !== undefined) {
    let ok = false;
    try {
      ok = open(msg.open);
    } catch {}
    // A message of blocks, opened: hashed here now, while its reader would only post its blocks
    // back to this thread to be hashed (one round trip less per message).
    const want = msg.open.blocks;
    const sealed = msg.open.sealed;
    const plain = ok && want !== undefined ? Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength - msg.open.tagBytes) : null;
    const spans = plain === null ? null : blockSpans(plain, want);
    if (spans === null) {
      parentPort.postMessage({ id, opened: ok });
      return;
    }
    const n = spans.length / 2;
    const out = Buffer.alloc(n * 32);
    for (let i = 0; i < n; i++) createHash('sha256').update(plain.subarray(spans[2 * i], spans[2 * i] + spans[2 * i + 1])).digest().copy(out, i * 32);
    parentPort.postMessage({ id, opened: ok, spans, out }, [spans.buffer, out.buffer]);
    return;
  }
  const n = views !== undefined ? views.length : spans.length / 2;
  const out = Buffer.alloc(n * 36);
  for (let i = 0; i < n; i++) {
    const data = views !== undefined ? views[i] : new Uint8Array(buffer, spans[2 * i], spans[2 * i + 1]);
    const hash = createHash('sha256').update(data).digest();
    hash.copy(out, i * 36);
    if (prefixes === null) continue; // the records' CRCs are known (received with the blocks)
    head.set(prefixes.subarray(i * 16, i * 16 + 16), 0);
    head.set(hash, 16);
    const crc = crc32(head); // data.byteLength 0: zlib answers 0 for a null buffer (block-pack.ts crcOn)
    out.writeUInt32LE(data.byteLength === 0 ? crc : crc32(data, crc), i * 36 + 32);
  }
  if (views !== undefined) parentPort.postMessage({ id, out }, [out.buffer]);
  else parentPort.postMessage({ id, buffer, out }, [buffer, out.buffer]);
});
`;

/**
 * Whether a buffer can be moved to the worker: an ArrayBuffer (not shared memory) larger than
 * Node's allocation pool (so not that pool, which other buffers share).
 */
export function transferable(buffer: ArrayBufferLike): buffer is ArrayBuffer {
  return buffer instanceof ArrayBuffer && buffer.byteLength > 64 * 1024;
}

/** One worker thread of the hasher, with the jobs posted to it. */
class HasherThread {
  #worker: Worker | null = null;
  #jobs = 0;
  readonly #name: string;
  readonly #settle: (id: number, msg: WorkerAnswer) => void;
  readonly #fail: (thread: HasherThread, err: Error) => void;

  constructor(name: string, settle: (id: number, msg: WorkerAnswer) => void, fail: (thread: HasherThread, err: Error) => void) {
    this.#name = name;
    this.#settle = settle;
    this.#fail = fail;
  }

  #start(): Worker {
    if (this.#worker !== null) return this.#worker;
    const w = new Worker(SOURCE, { eval: true, name: this.#name });
    w.on('message', (msg: WorkerAnswer) => {
      if (--this.#jobs === 0) w.unref();
      this.#settle(msg.id, msg);
    });
    const fail = (err: Error): void => {
      this.#worker = null;
      this.#jobs = 0;
      this.#fail(this, err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the block hasher exited (${code})`)));
    // After the listeners: adding a 'message' listener refs the worker again (Node), and a
    // worker only given buffers to let go (drop) would then keep the process alive.
    w.unref();
    this.#worker = w;
    return w;
  }

  /** Posts a job (its answer comes back through `settle`); throws when the worker cannot start. */
  post(msg: object, transfer: ArrayBuffer[]): void {
    const w = this.#start();
    if (++this.#jobs === 1) w.ref(); // a job under way keeps the process alive, as thread-pool work does
    w.postMessage(msg, transfer);
  }

  /** Hands the worker a buffer to let go (no answer). */
  drop(buffer: ArrayBuffer): void {
    this.#start().postMessage({ buffer }, [buffer]);
  }
}

interface WorkerAnswer {
  readonly id: number;
  readonly buffer?: ArrayBuffer;
  readonly out: Uint8Array;
  readonly spans?: Float64Array;
  readonly opened?: boolean;
  readonly sealed?: number;
}

/**
 * Which messages of blocks a frame opened in the worker has its blocks hashed there too (a
 * BLOCKS_CRC of at least `minCount` blocks, each of `minBytes` to `maxBytes`): those its
 * reader would hand back to the worker to hash (engine/sync/session.ts #store).
 */
export interface BlocksWanted {
  readonly minCount: number;
  readonly minBytes: number;
  readonly maxBytes: number;
}

/**
 * Blocks hashed where their message was opened, by the message (the plaintext view Opener.
 * openInPlace resolved with: one object a frame, so a pooled buffer reused for another frame
 * never finds them). Taken by who stores the blocks (take: read once).
 */
const opened = new WeakMap<Uint8Array, OpenedBlocks>();

export const openedBlocks = {
  set(message: Uint8Array, blocks: OpenedBlocks): void {
    opened.set(message, blocks);
  },
  /** The blocks hashed with `message`, once (null when none were). */
  take(message: Uint8Array): OpenedBlocks | null {
    const b = opened.get(message);
    if (b === undefined) return null;
    opened.delete(message);
    return b;
  },
};

/**
 * Blocks in shared memory are split between two threads when there are at least this many
 * bytes: the mount's write cache hands over batches of up to 64 MiB, and one thread hashing
 * them (SHA-256 and CRC-32, about 1 CPU-s a GiB here) was what a 1 MiB dd waited for.
 */
const SPLIT_BYTES = 4 * 1024 * 1024;

class BlockHasher {
  #failed = false;
  #next = 0;
  readonly #jobs = new Map<number, Job & { readonly thread: HasherThread }>();
  readonly #first: HasherThread;
  /** The second thread: only for halves of split batches (hashViews `split`), started on first use. */
  readonly #second: HasherThread;

  constructor() {
    const settle = (id: number, msg: WorkerAnswer): void => this.#settle(id, msg);
    const fail = (thread: HasherThread, err: Error): void => {
      this.#failed = true;
      for (const [id, job] of this.#jobs) {
        if (job.thread !== thread) continue;
        this.#jobs.delete(id);
        job.reject(err);
      }
    };
    this.#first = new HasherThread('realize-block-hasher', settle, fail);
    this.#second = new HasherThread('realize-block-hasher-2', settle, fail);
  }

  /** False once a worker failed: callers hash on the event loop. */
  get usable(): boolean {
    return !this.#failed;
  }

  #settle(id: number, { buffer, out, opened, sealed, spans }: WorkerAnswer): void {
    const job = this.#jobs.get(id);
    if (job === undefined) return;
    this.#jobs.delete(id);
    if (opened !== undefined || sealed !== undefined) {
      const blocks = spans !== undefined ? { spans, hashes: Buffer.from(out.buffer, out.byteOffset, out.byteLength) } : undefined;
      job.resolve({ buffer: EMPTY, hashes: [], crcs: [], opened, sealed, ...(blocks !== undefined ? { blocks } : {}) });
      return;
    }
    const res = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    const hashes: Buffer[] = [];
    const crcs: number[] = [];
    for (let at = 0; at < res.byteLength; at += 36) {
      hashes.push(res.subarray(at, at + 32));
      crcs.push(res.readUInt32LE(at + 32));
    }
    job.resolve({ buffer: buffer ?? EMPTY, hashes, crcs });
  }

  /**
   * SHA-256 and raw-record CRC of the blocks at `spans` ([offset, length] pairs) of `buffer`,
   * `prefixes` holding each one's 16-byte record header prefix. `buffer` is moved to the
   * worker: it is detached until the result hands it back. Rejects when the worker failed
   * (the buffer is lost with it).
   */
  hash(buffer: ArrayBuffer, spans: ReadonlyArray<readonly [number, number]>, prefixes: Uint8Array): Promise<HashedSpans> {
    const flat = new Float64Array(spans.length * 2);
    spans.forEach(([o, n], i) => {
      flat[2 * i] = o;
      flat[2 * i + 1] = n;
    });
    return this.#post(this.#first, { buffer, spans: flat, prefixes }, [buffer, flat.buffer, prefixes.buffer as ArrayBuffer]);
  }

  /**
   * The same for blocks that lie in shared memory (`views` over SharedArrayBuffers, see
   * BufferPool `shared`): the worker reads them where they are, so nothing is copied or moved
   * and the caller keeps them readable; it must not change them until this resolves. With
   * `prefixes` null, only their SHA-256 (the CRCs answered are 0: the caller knows them).
   */
  hashViews(views: readonly Uint8Array[], prefixes: Uint8Array | null, opts: { split?: boolean } = {}): Promise<Hashed> {
    let bytes = 0;
    if (opts.split === true) for (const v of views) bytes += v.byteLength;
    if (views.length < 2 || bytes < SPLIT_BYTES) {
      return this.#post(this.#first, { views, prefixes }, prefixes === null ? [] : [prefixes.buffer as ArrayBuffer]);
    }
    // With `split`, the second half goes to the second thread: both halves hashed at once.
    const half = views.length >> 1;
    const part = (from: number, to: number, thread: HasherThread): Promise<Hashed> => {
      const p = prefixes === null ? null : prefixes.slice(16 * from, 16 * to);
      return this.#post(thread, { views: views.slice(from, to), prefixes: p }, p === null ? [] : [p.buffer]);
    };
    return Promise.all([part(0, half, this.#first), part(half, views.length, this.#second)]).then(([a, b]) => ({ hashes: [...a.hashes, ...b.hashes], crcs: [...a.crcs, ...b.crcs] }));
  }

  /**
   * Opens a sealed frame (ciphertext || tag) that lies in shared memory, in place: resolves
   * true once `sealed` holds the plaintext (its first bytes, the tag's left over), false when
   * it does not authenticate. The caller must not touch `sealed` until this resolves. Jobs are
   * done in the order posted (one worker), so frames opened so resolve in their order.
   */
  async open(frame: { cipher: string; key: Uint8Array; nonce: Uint8Array; aad: Uint8Array; tagBytes: number; sealed: Uint8Array; blocks?: BlocksWanted }): Promise<{ opened: boolean; blocks?: OpenedBlocks }> {
    const r = await this.#post(this.#first, { open: frame }, []);
    return r.blocks !== undefined ? { opened: r.opened === true, blocks: r.blocks } : { opened: r.opened === true };
  }

  /**
   * Seals `parts` (their concatenation) into `out` (shared memory, at least their bytes +
   * `tagBytes`): ciphertext || tag. Resolves with the bytes written; rejects when it could not
   * (the worker failed, or threw). Parts over shared memory are read where they lie; others
   * are copied to the worker. The caller must not touch `out`, nor change the parts, until this
   * settles. Jobs are done in the order posted.
   */
  async seal(frame: { cipher: string; key: Uint8Array; nonce: Uint8Array; aad: Uint8Array; tagBytes: number; parts: readonly Uint8Array[]; out: Uint8Array }): Promise<number> {
    const r = await this.#post(this.#first, { seal: frame }, []);
    if (r.sealed === undefined || r.sealed < 0) throw new Error('the block hasher could not seal the frame');
    return r.sealed;
  }

  #post(thread: HasherThread, msg: object, transfer: ArrayBuffer[]): Promise<HashedSpans & { opened?: boolean; sealed?: number; blocks?: OpenedBlocks }> {
    if (this.#failed) return Promise.reject(new Error('the block hasher failed'));
    const id = this.#next++;
    return new Promise<HashedSpans & { opened?: boolean; sealed?: number; blocks?: OpenedBlocks }>((resolve, reject) => {
      this.#jobs.set(id, { resolve, reject, thread });
      try {
        thread.post({ id, ...msg }, transfer);
      } catch (err) {
        this.#jobs.delete(id);
        this.#failed = true;
        reject(err as Error);
      }
    });
  }

  /**
   * Takes a buffer the event loop is done with (moved, not copied) and lets it go there: its
   * bytes then count against the worker's small heap, not the event loop's (see FrameLease).
   */
  drop(buffer: ArrayBuffer): void {
    if (this.#failed) return;
    try {
      this.#first.drop(buffer);
    } catch {
      // not movable after all (or no worker): it is collected where it is
    }
  }
}

const EMPTY = new ArrayBuffer(0);

/** The process's one block hasher (its worker starts on first use). */
export const blockHasher = new BlockHasher();

/**
 * Who still reads a buffer the hasher handed back (a received message of blocks): the block
 * store until their records are written, read-ahead until a read takes them, and the message's
 * own handling. When the last lets go, the buffer moves to the hasher's worker and is freed
 * there.
 *
 * Why: V8 starts a full collection of the event loop's heap each time some 32 MB of new
 * buffers were made since the last one, whether or not they are still alive; a peer streaming
 * an Unreal file made one per 16 MiB received (the decrypted messages and the reads' results),
 * a fifth of both processes' CPU. A buffer moved to another thread leaves the count.
 *
 * A hold not let go only leaves the buffer to the collector, as before; letting go too early
 * would empty the views of whoever still reads it, so holders let go only once done (the
 * views handed to reads are copied by the read in the same turn: see Snapshot.readBlocks).
 */
export class FrameLease {
  #holds = 1;
  readonly #buffer: ArrayBufferLike;
  readonly #free: (buffer: ArrayBufferLike) => void;

  private constructor(buffer: ArrayBufferLike, free: (buffer: ArrayBufferLike) => void) {
    this.#buffer = buffer;
    this.#free = free;
  }

  /**
   * A lease on `buffer`, held once by the caller. When the last lets go, `free` gets the buffer
   * (by default it moves to the block hasher's worker; a pooled buffer goes back to its pool).
   */
  static take(buffer: ArrayBufferLike, free?: (buffer: ArrayBufferLike) => void): FrameLease {
    const lease = new FrameLease(buffer, free ?? ((b) => transferable(b) && blockHasher.drop(b)));
    leases.set(buffer, lease);
    return lease;
  }

  /** The lease on the buffer under `view`, if it has one. */
  static of(view: Uint8Array): FrameLease | undefined {
    return leases.get(view.buffer);
  }

  hold(): void {
    if (this.#holds > 0) this.#holds++;
  }

  /** Lets go once; the last lets go of the buffer once the current turn's reads are done. */
  release(): void {
    if (this.#holds <= 0 || --this.#holds > 0) return;
    leases.delete(this.#buffer);
    setImmediate(() => this.#free(this.#buffer));
  }
}

const leases = new WeakMap<ArrayBufferLike, FrameLease>();
