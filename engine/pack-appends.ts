/**
 * The block store's appends to its packs, written around the page cache (O_DIRECT) when the
 * caller asks and the run is large: the bytes go from one aligned staging buffer to the disk,
 * and the kernel neither copies them into page-cache pages nor writes those pages back later.
 *
 * Why: a 1 GiB write through the mount spent about 1.7 CPU-s (of some 5 over all the server's
 * threads) in the kernel copying pack writes into the page cache (copy_folio_from_iter_atomic,
 * `perf record`): on this virtual machine each new page-cache page costs a fault in the host
 * on first touch, and a pack's pages are always new. For the mount's writes those pages serve
 * nothing: a file read after its write is answered from the FUSE inode's own page cache
 * (mount/kernel-pages.ts), which holds the same bytes. Others who write blocks (an import,
 * blocks received by sync) may read them back from the packs soon, where a read from the disk
 * would cost more than the copy saved: they write as before (the store decides, BlockStore
 * stageMany `around`).
 *
 * The file's bytes and size are what buffered writes would leave, at every moment: a run
 * written around is written O_DIRECT from the aligned block before its offset up to the last
 * whole aligned block it reaches (the bytes before its offset in that first block are kept
 * from the previous write, or read back), and the rest of it, less than one aligned block, is
 * a buffered write. Durability is unchanged: the store's fdatasync of the pack (on any handle
 * of it) makes both kinds durable; O_DIRECT alone promises nothing.
 *
 * Where O_DIRECT is refused (a file system without it; an alignment the device will not take),
 * the appends fall back to buffered writes for good. The staging buffer is a WebAssembly
 * memory: the only memory JavaScript can get whose address is page-aligned, which O_DIRECT
 * requires (a Node Buffer's is not). One buffer per process, used by one write at a time.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { copyBytes } from './copy-bytes.js';
import { Mutex } from './block-files.js';
import { readAt, writeAllAt } from './block-pack.js';

/** The alignment of O_DIRECT offsets, lengths and memory: the page and ext4 block size. */
export const DIRECT_ALIGN = 4096;
/** Runs written around the page cache are at least this long (shorter ones gain little). */
export const DIRECT_BYTES = 1024 * 1024;
/** The staging buffer's bytes: a run is written in pieces of this many. */
const STAGING_BYTES = 8 * 1024 * 1024;
const WASM_PAGE = 64 * 1024;

/** The part of the WebAssembly API used here (the project's TypeScript libraries do not declare it). */
interface WasmMemoryApi {
  readonly Memory: new (d: { initial: number; maximum: number }) => { readonly buffer: ArrayBuffer };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmMemoryApi }).WebAssembly;

let staging: Buffer | null = null;
const stagingLock = new Mutex();

function stagingBuffer(): Buffer {
  if (staging === null) {
    const pages = Math.ceil((STAGING_BYTES + DIRECT_ALIGN) / WASM_PAGE);
    staging = Buffer.from(new wasm.Memory({ initial: pages, maximum: pages }).buffer);
  }
  return staging;
}

const alignDown = (n: number): number => n - (n % DIRECT_ALIGN);

/** Whether an error says O_DIRECT cannot be used here (not an I/O failure). */
function directRefused(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'EOPNOTSUPP' || code === 'ENOTSUP';
}

/** What the appends know of the pack they last wrote: its O_DIRECT handle, where it ends, and its last partial aligned block. */
interface Tail {
  readonly pack: number;
  readonly fh: FileHandle;
  end: number;
  /** The bytes of [alignDown(end), end). */
  bytes: Buffer;
}

export interface PackAppendsOptions {
  /** Opens a pack for O_DIRECT writes (tests inject a refusal). */
  readonly openDirect?: (path: string) => Promise<FileHandle>;
}

export class PackAppends {
  readonly #path: (pack: number) => string;
  readonly #openDirect: (path: string) => Promise<FileHandle>;
  #tail: Tail | null = null;
  /** Set when O_DIRECT was refused: every append is buffered from then on. */
  #refused = false;
  /** Runs written O_DIRECT, and buffered. */
  direct = 0;
  buffered = 0;

  constructor(path: (pack: number) => string, opts: PackAppendsOptions = {}) {
    this.#path = path;
    this.#openDirect = opts.openDirect ?? ((p) => open(p, constants.O_WRONLY | constants.O_DIRECT));
  }

  /**
   * Writes `bufs` (`bytes` in all) at `offset` of pack `pack`, whose buffered handle is
   * `fh`; with `direct`, around the page cache when the run is long enough. Throws what the
   * write threw; the caller writes the same run again later.
   */
  async write(pack: number, fh: FileHandle, offset: number, bufs: readonly Buffer[], bytes: number, opts: { direct?: boolean } = {}): Promise<void> {
    if (opts.direct !== true || bytes < DIRECT_BYTES || this.#refused) {
      const t = this.#tail?.pack === pack ? this.#tail : null;
      if (t !== null && t.end !== offset) await this.forget();
      await writeAllAt(fh, bufs, offset);
      this.buffered++;
      // Appended where the kept tail of this pack ends: the tail moves with it (no read back next time).
      if (t !== null && this.#tail === t) {
        t.bytes = lastBytes([t.bytes, ...bufs], offset + bytes - alignDown(offset + bytes));
        t.end = offset + bytes;
      }
      return;
    }
    try {
      await stagingLock.run(() => this.#writeDirect(pack, fh, offset, bufs, bytes));
      this.direct++;
    } catch (err) {
      await this.forget();
      if (!directRefused(err)) throw err;
      this.#refused = true;
      await writeAllAt(fh, bufs, offset);
      this.buffered++;
    }
  }

  async #writeDirect(pack: number, fh: FileHandle, offset: number, bufs: readonly Buffer[], bytes: number): Promise<void> {
    const tail = await this.#tailAt(pack, fh, offset);
    const s = stagingBuffer();
    let base = alignDown(offset);
    let fill = copyBytes(s, tail.bytes, 0);
    const end = offset + bytes;
    const lastAligned = alignDown(end);
    for (const buf of bufs) {
      let at = 0;
      while (at < buf.byteLength) {
        const n = Math.min(buf.byteLength - at, STAGING_BYTES - fill);
        fill = copyBytes(s, buf.subarray(at, at + n), fill);
        at += n;
        if (fill === STAGING_BYTES) {
          await writeFully(tail.fh, s, STAGING_BYTES, base);
          base += STAGING_BYTES;
          fill = 0;
        }
      }
    }
    // The whole aligned blocks left go O_DIRECT, the partial one after them buffered.
    const whole = lastAligned - base;
    if (whole > 0) await writeFully(tail.fh, s, whole, base);
    const rest = s.subarray(Math.max(0, whole), fill);
    if (rest.byteLength > 0) await writeAllAt(fh, [rest], lastAligned);
    tail.end = end;
    // The new partial block, kept for the next run (copied: the staging buffer is reused).
    tail.bytes = Buffer.from(rest);
  }

  /** The tail at `offset` of `pack`: kept from the last write, or its handle opened and its partial block read back. */
  async #tailAt(pack: number, fh: FileHandle, offset: number): Promise<Tail> {
    const t = this.#tail;
    if (t !== null && t.pack === pack && t.end === offset) return t;
    await this.forget();
    const from = alignDown(offset);
    const bytes = from === offset ? Buffer.alloc(0) : await readAt(fh, from, offset - from);
    if (bytes.byteLength !== offset - from) throw Object.assign(new Error(`pack ${pack} is shorter than ${offset} bytes`), { code: 'EIO' });
    const direct = await this.#openDirect(this.#path(pack));
    this.#tail = { pack, fh: direct, end: offset, bytes };
    return this.#tail;
  }

  /** Drops what is known of pack `pack` (it is deleted), closing its handle. */
  async forgetPack(pack: number): Promise<void> {
    if (this.#tail?.pack === pack) await this.forget();
  }

  /** Drops what is known of the last pack written, closing its handle. */
  async forget(): Promise<void> {
    const t = this.#tail;
    this.#tail = null;
    await t?.fh.close().catch(() => undefined);
  }
}

/** The last `n` bytes of the concatenation of `parts` (copied), which hold at least that many. */
function lastBytes(parts: readonly Uint8Array[], n: number): Buffer {
  const out = Buffer.alloc(n);
  let at = n;
  for (let i = parts.length - 1; i >= 0 && at > 0; i--) {
    const p = parts[i]!;
    const k = Math.min(at, p.byteLength);
    at = copyBytes(out, p.subarray(p.byteLength - k), at - k) - k;
  }
  return out;
}

/** Writes `n` bytes of `buf` at `position`, all of them (a short O_DIRECT write is an error: the rest would be unaligned). */
async function writeFully(fh: FileHandle, buf: Buffer, n: number, position: number): Promise<void> {
  const { bytesWritten } = await fh.write(buf, 0, n, position);
  if (bytesWritten !== n) throw Object.assign(new Error(`short write: ${bytesWritten} of ${n} bytes`), { code: 'EIO' });
}
