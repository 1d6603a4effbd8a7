/**
 * A feed: one author's append-only log for one area, stored as segment files in its own
 * directory. Only the owner appends (`append`, group-committed: every append queued while a
 * write is in flight shares the next write and fsync); replicas grow only through
 * `appendVerified`, which refuses anything that does not verify.
 */
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesEqual } from './bytes.js';
import type { CborValue } from './cbor.js';
import {
  checkLink,
  createEntry,
  decodeRecord,
  encodeRecord,
  feedName,
  verifyEntry,
  type Entry,
  type FeedId,
  type Heads,
} from './entry.js';
import { encodeFrame, encodeSegmentHeader, FRAME_HEADER_BYTES } from './frame.js';
import type { HybridClock, Hlc } from './hlc.js';
import type { Signer } from './keys.js';
import { LogError } from './log-error.js';
import { openSegment, parseSegmentFileName, readAt, scanSegment, segmentFileName } from './segment.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const MAX_WRITE_BYTES = 16 * 1024 * 1024;

interface Segment {
  readonly firstSeq: number;
  readonly path: string;
  fh: FileHandle;
  /** Byte offset of each frame; the frame of seq s is at offsets[s - firstSeq]. */
  readonly offsets: number[];
  size: number;
}

export interface FeedHead {
  readonly seq: number;
  readonly hash: Uint8Array;
  readonly hlc: Hlc;
}

export interface Recovery {
  readonly feed: string;
  readonly segment: string;
  readonly cutAt: number;
  readonly bytesCut: number;
  readonly reason: string;
}

export interface FeedOptions {
  readonly readOnly?: boolean;
  readonly segmentBytes?: number;
  /** Required to append as the owner. */
  readonly signer?: Signer;
  readonly clock?: HybridClock;
  /** Called with what open cut from a torn tail. */
  readonly onRecovery?: (r: Recovery) => void;
}

interface Pending {
  readonly events: readonly CborValue[];
  readonly heads: Heads;
  readonly resolve: (e: Entry) => void;
  readonly reject: (err: unknown) => void;
}

export class Feed {
  readonly id: FeedId;
  readonly name: string;
  readonly dir: string;
  readonly #opts: FeedOptions;
  readonly #segments: Segment[] = [];
  #head: FeedHead | null = null;
  #queue: Pending[] = [];
  #writing: Promise<void> | null = null;
  #closed = false;
  #waiters = new Set<() => void>();

  private constructor(dir: string, id: FeedId, opts: FeedOptions) {
    this.dir = dir;
    this.id = id;
    this.name = feedName(id);
    this.#opts = opts;
  }

  /** Opens (or with create, creates) the feed stored in `dir`, recovering a torn tail. */
  static async open(dir: string, id: FeedId, opts: FeedOptions & { create?: boolean } = {}): Promise<Feed> {
    const feed = new Feed(dir, id, opts);
    await feed.#load(opts.create === true);
    return feed;
  }

  get length(): number {
    const last = this.#segments.at(-1);
    return last === undefined ? 0 : last.firstSeq + last.offsets.length;
  }

  get head(): FeedHead | null {
    return this.#head;
  }

  get writable(): boolean {
    return this.#opts.readOnly !== true;
  }

  /** Bytes on disk across all segments. */
  get byteLength(): number {
    return this.#segments.reduce((n, s) => n + s.size, 0);
  }

  async #load(create: boolean): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
        throw new LogError('IO', `feed ${this.name}: cannot read ${this.dir}: ${(err as Error).message}`, { cause: err });
      }
      names = [];
    }
    const firsts = names.map(parseSegmentFileName).filter((n): n is number => n !== null).sort((a, b) => a - b);
    if (firsts.length === 0) {
      if (!create) throw new LogError('IO', `feed ${this.name}: no segments in ${this.dir}`);
      if (this.#opts.readOnly) throw new LogError('READ_ONLY', `feed ${this.name}: cannot create a feed in a read-only store`);
      await this.#createSegment(0);
      return;
    }
    const writable = this.#opts.readOnly !== true;
    let expectSeq = 0;
    for (let i = 0; i < firsts.length; i++) {
      const first = firsts[i]!;
      const path = join(this.dir, segmentFileName(first));
      const isLast = i === firsts.length - 1;
      const fh = await openSegment(path, writable && isLast);
      const where = `feed ${this.name}, segment ${segmentFileName(first)}`;
      let scan;
      try {
        scan = await scanSegment(fh, where);
      } catch (err) {
        await fh.close();
        await this.#closeSegments();
        throw err;
      }
      if (scan.firstSeq !== first || first !== expectSeq) {
        await fh.close();
        await this.#closeSegments();
        throw new LogError('CORRUPT_SEGMENT', `${where}: expected to start at entry ${expectSeq}, header says ${scan.firstSeq}`);
      }
      if (scan.torn !== null) {
        if (!isLast) {
          await fh.close();
          await this.#closeSegments();
          throw new LogError('CORRUPT_SEGMENT', `${where}: entry ${first + scan.offsets.length} at byte offset ${scan.torn.offset} is corrupt (${scan.torn.reason}) and later segments follow`);
        }
        if (!writable) {
          // Serve the whole prefix; leave the bytes for a writable open to cut.
        } else {
          await fh.truncate(scan.validEnd);
          await fh.datasync();
        }
        this.#opts.onRecovery?.({
          feed: this.name,
          segment: path,
          cutAt: scan.validEnd,
          bytesCut: scan.fileSize - scan.validEnd,
          reason: scan.torn.reason,
        });
      }
      this.#segments.push({ firstSeq: first, path, fh, offsets: scan.offsets, size: scan.validEnd });
      expectSeq = first + scan.offsets.length;
    }
    if (expectSeq > 0) {
      const last = await this.get(expectSeq - 1);
      if (!bytesEqual(last.author, this.id.author) || last.area !== this.id.area || last.seq !== expectSeq - 1) {
        await this.#closeSegments();
        throw new LogError('WRONG_FEED', `feed ${this.name}: its last entry says it is entry ${last.seq} of feed ${feedName(last)}`);
      }
      this.#head = { seq: last.seq, hash: last.hash, hlc: last.hlc };
      this.#opts.clock?.observe(last.hlc);
    }
  }

  async #createSegment(firstSeq: number): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, segmentFileName(firstSeq));
    const fh = await open(path, 'wx+');
    const header = encodeSegmentHeader(firstSeq);
    await fh.write(header, 0, header.byteLength, 0);
    await fh.datasync();
    await syncDir(this.dir);
    const prev = this.#segments.at(-1);
    if (prev) {
      await prev.fh.close();
      prev.fh = await open(prev.path, 'r');
    }
    this.#segments.push({ firstSeq, path, fh, offsets: [], size: header.byteLength });
  }

  #locate(seq: number): { seg: Segment; index: number } {
    if (!Number.isInteger(seq) || seq < 0 || seq >= this.length) {
      throw new LogError('BAD_SEQUENCE', `feed ${this.name} has no entry ${seq} (length ${this.length})`);
    }
    let lo = 0;
    let hi = this.#segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#segments[mid]!.firstSeq <= seq) lo = mid;
      else hi = mid - 1;
    }
    const seg = this.#segments[lo]!;
    return { seg, index: seq - seg.firstSeq };
  }

  /** The raw records of entries [from, to). */
  async readRecords(from: number, to: number = this.length): Promise<Buffer[]> {
    this.#checkOpen();
    to = Math.min(to, this.length);
    const out: Buffer[] = [];
    let seq = from;
    while (seq < to) {
      const { seg, index } = this.#locate(seq);
      const lastIndex = Math.min(seg.offsets.length, index + (to - seq)) - 1;
      const start = seg.offsets[index]!;
      const end = lastIndex + 1 < seg.offsets.length ? seg.offsets[lastIndex + 1]! : seg.size;
      const buf = await readAt(seg.fh, start, end - start);
      for (let i = index; i <= lastIndex; i++) {
        const at = seg.offsets[i]! - start;
        const len = buf.readUInt32LE(at);
        out.push(buf.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + len));
      }
      seq += lastIndex - index + 1;
    }
    return out;
  }

  /** Entries [from, to), decoded (structure checked; signatures were checked on the way in). */
  async read(from: number, to: number = this.length): Promise<Entry[]> {
    const records = await this.readRecords(from, to);
    return records.map((r) => decodeRecord(r));
  }

  async get(seq: number): Promise<Entry> {
    const [r] = await this.readRecords(seq, seq + 1);
    return decodeRecord(r!);
  }

  /** Where entry `seq` sits on disk (for error messages and tools). */
  location(seq: number): { segment: string; offset: number } {
    const { seg, index } = this.#locate(seq);
    return { segment: seg.path, offset: seg.offsets[index]! };
  }

  /**
   * Appends one entry holding `events`, as this feed's owner. Resolves once the entry is
   * durable (written and fsynced). Appends queued while a write is in flight are written
   * together with one write and one fsync.
   */
  append(events: readonly CborValue[], heads: Heads = []): Promise<Entry> {
    try {
      this.#checkOpen();
      this.#checkWritable();
      if (!this.#opts.signer || !this.#opts.clock) throw new LogError('WRONG_FEED', `feed ${this.name}: only its owner can append`);
      if (!bytesEqual(this.#opts.signer.publicKey, this.id.author)) throw new LogError('WRONG_FEED', `feed ${this.name}: the signer is not its author`);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<Entry>((resolve, reject) => {
      this.#queue.push({ events, heads, resolve, reject });
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#writing === null) {
      this.#writing = this.#drain().finally(() => {
        this.#writing = null;
        if (this.#queue.length > 0 && !this.#closed) this.#kick();
      });
    }
  }

  async #drain(): Promise<void> {
    // Yield once so that appends issued in the same tick join this write.
    await new Promise<void>((r) => setImmediate(r));
    while (this.#queue.length > 0) {
      const batch: Pending[] = [];
      const entries: Entry[] = [];
      const frames: Buffer[] = [];
      let bytes = 0;
      let head = this.#head;
      while (this.#queue.length > 0 && bytes < MAX_WRITE_BYTES) {
        const p = this.#queue.shift()!;
        let entry: Entry;
        try {
          entry = createEntry(
            {
              author: this.id.author,
              area: this.id.area,
              seq: head === null ? 0 : head.seq + 1,
              prev: head === null ? null : head.hash,
              hlc: this.#opts.clock!.tick(),
              heads: p.heads,
              events: p.events,
            },
            this.#opts.signer!,
          );
        } catch (err) {
          p.reject(err);
          continue;
        }
        head = { seq: entry.seq, hash: entry.hash, hlc: entry.hlc };
        batch.push(p);
        entries.push(entry);
        const frame = encodeFrame(encodeRecord(entry));
        frames.push(frame);
        bytes += frame.byteLength;
      }
      if (entries.length === 0) continue;
      try {
        await this.#writeFrames(entries, frames, bytes);
      } catch (err) {
        for (const p of batch) p.reject(err);
        continue;
      }
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(entries[i]!);
    }
  }

  /** Writes whole frames for entries that follow the head, then fsyncs, then publishes them. */
  async #writeFrames(entries: readonly Entry[], frames: readonly Buffer[], bytes: number): Promise<void> {
    let seg = this.#segments.at(-1)!;
    const limit = this.#opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    if (seg.offsets.length > 0 && seg.size + bytes > limit) {
      await this.#createSegment(entries[0]!.seq);
      seg = this.#segments.at(-1)!;
    }
    const buf = frames.length === 1 ? frames[0]! : Buffer.concat(frames, bytes);
    const start = seg.size;
    try {
      let written = 0;
      while (written < buf.byteLength) {
        const { bytesWritten } = await seg.fh.write(buf, written, buf.byteLength - written, start + written);
        written += bytesWritten;
      }
      await seg.fh.datasync();
    } catch (err) {
      // Leave no partial frame behind: the bytes were never acknowledged.
      await seg.fh.truncate(start).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      throw new LogError(code === 'ENOSPC' ? 'NO_SPACE' : 'IO', `feed ${this.name}: append failed (${code ?? (err as Error).message}); nothing of it was kept`, { cause: err });
    }
    let at = start;
    for (const f of frames) {
      seg.offsets.push(at);
      at += f.byteLength;
    }
    seg.size = at;
    const last = entries.at(-1)!;
    this.#head = { seq: last.seq, hash: last.hash, hlc: last.hlc };
    this.#wake();
  }

  /**
   * Appends entries of another author's feed, received from a peer. Each must carry a valid
   * signature, continue the chain with the next sequence number, and not fork what is held.
   * Entries already held (same hash) are skipped. All-or-nothing: on any error nothing is kept.
   * Returns how many entries were new.
   */
  async appendVerified(input: ReadonlyArray<Entry | Uint8Array>): Promise<number> {
    this.#checkOpen();
    this.#checkWritable();
    // Serialise with the owner's writer, if any.
    while (this.#writing !== null) await this.#writing;
    const entries = input.map((e) => (e instanceof Uint8Array ? decodeRecord(e) : e));
    let prev: { seq: number; hash: Uint8Array } | null = this.#head;
    const fresh: Entry[] = [];
    for (const e of entries) {
      if (e.seq < this.length && fresh.length === 0) {
        const held = await this.get(e.seq);
        if (!bytesEqual(held.hash, e.hash)) {
          verifyEntry(e);
          throw new LogError('FORK', `feed ${this.name}: a different entry ${e.seq} is already held; the author forked its feed`);
        }
        continue;
      }
      checkLink(this.id, prev, e);
      verifyEntry(e);
      fresh.push(e);
      prev = e;
    }
    if (fresh.length === 0) return 0;
    const frames = fresh.map((e) => encodeFrame(encodeRecord(e)));
    const pending = this.#writeFrames(fresh, frames, frames.reduce((n, f) => n + f.byteLength, 0));
    this.#writing = pending.finally(() => {
      this.#writing = null;
    });
    await pending;
    for (const e of fresh) this.#opts.clock?.observe(e.hlc);
    return fresh.length;
  }

  /** Yields entries from `from` on, then each new entry as it becomes durable, until closed or aborted. */
  async *live(from = 0, signal?: AbortSignal): AsyncGenerator<Entry> {
    let next = from;
    while (!this.#closed && !signal?.aborted) {
      if (next < this.length) {
        const to = Math.min(this.length, next + 256);
        for (const e of await this.read(next, to)) yield e;
        next = to;
        continue;
      }
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiters.add(wake);
        signal?.addEventListener('abort', wake);
      });
    }
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  #checkOpen(): void {
    if (this.#closed) throw new LogError('CLOSED', `feed ${this.name} is closed`);
  }

  #checkWritable(): void {
    if (this.#opts.readOnly) throw new LogError('READ_ONLY', `feed ${this.name} is open read-only`);
  }

  /** Waits for queued appends, then closes the files. */
  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#writing !== null) await this.#writing;
    this.#closed = true;
    this.#wake();
    await this.#closeSegments();
  }

  async #closeSegments(): Promise<void> {
    for (const s of this.#segments) await s.fh.close().catch(() => undefined);
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

