/**
 * A feed: one author's append-only log for one area, stored as segment files in its own
 * directory. Only the owner appends (`append`, group-committed: every append queued while a
 * write is in flight shares the next write and fsync); replicas grow only through
 * `appendVerified`, which refuses anything that does not verify.
 */
import { link, mkdir, open, readdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { bytesEqual } from './bytes.js';
import type { CborValue } from './cbor.js';
import {
  checkLink,
  prepareEntry,
  SIGNATURE_BYTES,
  decodeRecord,
  encodeRecord,
  feedName,
  verifyEntry,
  type Entry,
  type FeedId,
  type Heads,
} from './entry.js';
import { checkFrame, decodeSegmentHeader, encodeFrame, encodeSegmentHeader, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './frame.js';
import type { HybridClock, Hlc } from './hlc.js';
import type { Signer } from './keys.js';
import { LogError } from './log-error.js';
import { openSegment, parseSegmentFileName, readAt, scanSegment, segmentFileName } from './segment.js';

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const MAX_WRITE_BYTES = 16 * 1024 * 1024;

/** How long a read-only feed waits for an entry the writer is committing: 100 x 20 ms. */
const ENTRY_WAIT_TRIES = 100;
const ENTRY_WAIT_STEP_MS = 20;

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
  /**
   * Awaited before each group write: whatever the entries refer to outside the log (content
   * blocks) is made durable first, so a durable entry never names something that is not.
   */
  readonly beforeWrite?: () => Promise<void>;
}

interface Staged {
  /** Its signature is filled in by the writer, just before the entry is written. */
  readonly entry: Entry;
  /** Bytes of the entry's frame on disk. */
  readonly size: number;
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
  #staged: Staged[] = [];
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
    let names: string[] | null;
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
        throw new LogError('IO', `feed ${this.name}: cannot read ${this.dir}: ${(err as Error).message}`, { cause: err });
      }
      names = null;
    }
    const firsts = (names ?? []).map(parseSegmentFileName).filter((n): n is number => n !== null).sort((a, b) => a - b);
    if (firsts.length === 0) {
      // A directory without a segment is a feed whose creation was cut short (the process
      // died between mkdir and its first segment): it holds no entries. A writable open
      // completes it; a read-only open serves it empty.
      if (this.#opts.readOnly) {
        if (names === null) throw new LogError('READ_ONLY', `feed ${this.name}: cannot create a feed in a read-only store`);
        return;
      }
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
    const made = await mkdir(this.dir, { recursive: true });
    // A new feed directory must itself be durable in its parent before anything in it is acknowledged.
    if (made !== undefined) await syncDir(dirname(this.dir));
    const path = join(this.dir, segmentFileName(firstSeq));
    // The segment gets its name only once its header is durable: a crash before that leaves
    // a stray temporary file (ignored, reused), never a named segment without a header.
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, 'w+');
    const header = encodeSegmentHeader(firstSeq);
    try {
      await fh.write(header, 0, header.byteLength, 0);
      await fh.datasync();
      await link(tmp, path); // fails if the segment exists, as open(path, 'wx+') did
      await unlink(tmp);
    } catch (err) {
      await fh.close();
      throw err;
    }
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
    if (seq >= this.length && this.#opts.readOnly === true && Number.isInteger(seq)) await this.#awaitEntry(seq);
    const [r] = await this.readRecords(seq, seq + 1);
    if (r === undefined) throw new LogError('BAD_SEQUENCE', `feed ${this.name} has no entry ${seq} (length ${this.length})`);
    return decodeRecord(r);
  }

  /**
   * Read-only: picks up the entries the store's writer (another process) appended since this
   * feed was opened: whole frames past the known end of the last segment, and segments begun
   * since. A frame still being written is left for the next look. Returns the new length.
   */
  refresh(): Promise<number> {
    if (this.#opts.readOnly !== true) return Promise.resolve(this.length);
    this.#checkOpen();
    const run = (this.#refreshing ?? Promise.resolve()).then(() => this.#refreshNow());
    this.#refreshing = run.then(() => undefined, () => undefined);
    return run;
  }

  #refreshing: Promise<void> | null = null;

  async #refreshNow(): Promise<number> {
    const last = this.#segments.at(-1);
    if (last !== undefined) await this.#scanTail(last);
    for (;;) {
      const first = this.length;
      const path = join(this.dir, segmentFileName(first));
      const fh = await open(path, 'r').catch(() => null);
      if (fh === null) break;
      const header = await readAt(fh, 0, SEGMENT_HEADER_BYTES);
      if (header.byteLength !== SEGMENT_HEADER_BYTES || decodeSegmentHeader(header) !== first || this.#segments.some((g) => g.firstSeq === first)) {
        await fh.close();
        break;
      }
      const seg: Segment = { firstSeq: first, path, fh, offsets: [], size: SEGMENT_HEADER_BYTES };
      this.#segments.push(seg);
      await this.#scanTail(seg);
      if (seg.offsets.length === 0) break;
    }
    return this.length;
  }

  async #scanTail(seg: Segment): Promise<void> {
    const { size } = await seg.fh.stat();
    if (size <= seg.size) return;
    const buf = await readAt(seg.fh, seg.size, size - seg.size);
    let rel = 0;
    for (;;) {
      const c = checkFrame(buf, rel);
      if (c.kind !== 'ok') break;
      seg.offsets.push(seg.size + rel);
      rel += FRAME_HEADER_BYTES + c.payloadLength;
    }
    seg.size += rel;
  }

  /**
   * Read-only: waits a moment for entry `seq`, which the writer's projections may name before
   * its group commit has written it (they are applied first, made durable just after).
   */
  async #awaitEntry(seq: number): Promise<void> {
    for (let i = 0; i < ENTRY_WAIT_TRIES; i++) {
      if ((await this.refresh()) > seq) return;
      await new Promise((r) => setTimeout(r, ENTRY_WAIT_STEP_MS));
    }
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
      return this.stage(events, heads).durable;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Creates and sequences the next entry now (synchronously, so callers can apply it before
   * it is durable, in the order it will have in the feed), and queues it for the next group
   * write. Its hash (what the chain and the projections use) is final at once; its signature
   * is made by the writer, off the caller's path, and is in place when `durable` resolves.
   * `durable` resolves once it is written and fsynced; if that write fails it rejects, and
   * neither this entry nor any staged after it is kept.
   */
  stage(events: readonly CborValue[], heads: Heads = []): { entry: Entry; durable: Promise<Entry> } {
    this.#checkOpen();
    this.#checkWritable();
    const signer = this.#opts.signer;
    const clock = this.#opts.clock;
    if (!signer || !clock) throw new LogError('WRONG_FEED', `feed ${this.name}: only its owner can append`);
    if (!bytesEqual(signer.publicKey, this.id.author)) throw new LogError('WRONG_FEED', `feed ${this.name}: the signer is not its author`);
    const last = this.#staged.at(-1)?.entry ?? this.#head;
    const entry = prepareEntry(
      {
        author: this.id.author,
        area: this.id.area,
        seq: last === null ? 0 : last.seq + 1,
        prev: last === null ? null : last.hash,
        hlc: clock.tick(),
        heads,
        events,
      },
      signer,
    );
    let resolve!: (e: Entry) => void;
    let reject!: (err: unknown) => void;
    const durable = new Promise<Entry>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#staged.push({ entry, size: FRAME_HEADER_BYTES + entry.body.byteLength + SIGNATURE_BYTES, resolve, reject });
    this.#kick();
    return { entry, durable };
  }

  /** Resolves when nothing staged is left unwritten (whether the writes succeeded or not). */
  async settled(): Promise<void> {
    while (this.#writing !== null) await this.#writing.catch(() => undefined);
  }

  /** Entries staged but not yet durable. */
  get pending(): number {
    return this.#staged.length;
  }

  #kick(): void {
    if (this.#writing === null) {
      this.#writing = this.#drain().finally(() => {
        this.#writing = null;
        if (this.#staged.length > 0 && !this.#closed) this.#kick();
      });
    }
  }

  async #drain(): Promise<void> {
    // Yield once so that appends issued in the same tick join this write.
    await new Promise<void>((r) => setImmediate(r));
    while (this.#staged.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.#staged.length && (n === 0 || bytes + this.#staged[n]!.size <= MAX_WRITE_BYTES)) {
        bytes += this.#staged[n]!.size;
        n++;
      }
      const batch = this.#staged.slice(0, n);
      try {
        // One signature per entry, made in the thread pool (in parallel) while the event loop serves requests.
        const signer = this.#opts.signer!;
        const signatures = await Promise.all(batch.map((p) => signer.signAsync(p.entry.hash)));
        batch.forEach((p, k) => p.entry.signature.set(signatures[k]!));
        await this.#writeFrames(batch.map((p) => p.entry), batch.map((p) => encodeFrame(encodeRecord(p.entry))), bytes);
      } catch (err) {
        // Everything staged after a failed write chains onto it: none of it can be kept.
        const failed = this.#staged.splice(0);
        for (const p of failed) p.reject(err);
        return;
      }
      this.#staged.splice(0, n);
      for (const p of batch) p.resolve(p.entry);
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
      await this.#opts.beforeWrite?.();
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
    const entries = input.map((e) => (e instanceof Uint8Array ? decodeRecord(e) : e));
    let prev: { seq: number; hash: Uint8Array } | null;
    let fresh: Entry[];
    for (;;) {
      // Serialise with the owner's writer, if any, and with other appendVerified calls.
      while (this.#writing !== null) await this.#writing;
      this.#checkOpen();
      const start = this.#head;
      prev = start;
      fresh = [];
      for (const e of entries) {
        if (!bytesEqual(e.author, this.id.author) || e.area !== this.id.area) {
          // Before the fork check: another feed's entry is not a fork of this one.
          throw new LogError('WRONG_FEED', `entry ${e.seq} belongs to feed ${feedName(e)}, not ${this.name}`);
        }
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
      // Reading held entries yields to the event loop: if another write started or landed
      // meanwhile, the checks above were made against a stale head, so make them again.
      if (this.#writing === null && this.#head === start) break;
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
        for (const e of await this.read(next, to)) {
          if (this.#closed || signal?.aborted) return;
          yield e;
        }
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

