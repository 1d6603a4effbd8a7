/**
 * Fetching blocks from connected peers, by hash. Each connected peer's sync session is a
 * source (engine/sync/session.ts registers itself); a source answers with the blocks it
 * could give, each already checked against its hash and stored in the block store.
 *
 * A fetch asks the sources one after the other (the one that last gave blocks first) until
 * every block came, every source said it lacks some, or the deadline passed; it never hangs:
 * with no source connected it fails at once (UNAVAILABLE), and past the deadline with TIMEOUT.
 * Single blocks asked for in the same turn of the event loop go out in one request, and the
 * same block asked for twice is fetched once. Reads go before read-ahead: their requests are
 * sent first, on their own.
 */
import type { NodeId } from '../../log/index.js';
import { FrameLease } from '../block-hasher.js';
import { PlacementError } from './placement-error.js';

export interface BlockSource {
  /** The peer's key (hex). */
  readonly peer: string;
  /**
   * Asks the peer for blocks; `onBlock` hears of each as it comes (verified and stored), and
   * the promise resolves with all that came (hex hash -> content) once the peer answered for
   * every one (the others it lacks) or the session ended.
   */
  request(hashes: readonly Buffer[], onBlock?: (key: string, data: Buffer) => void): Promise<Map<string, Buffer>>;
}

/** Why a block is wanted: a read waits for it, read-ahead expects a read, realize makes a file Real. */
export type FetchKind = 'read' | 'ahead' | 'realize';

export interface FetcherOptions {
  /** The deadline of a fetch (read each time: settings can change). */
  readonly timeoutMs: () => number;
  /** Called with the blocks each fetch brought (hex hash -> size: their content may be let go by then). */
  readonly onFetched?: (blocks: ReadonlyMap<string, number>, kind: FetchKind, id: NodeId | undefined) => void;
}

export interface FetchOutcome {
  readonly got: Map<string, Buffer>;
  /** Blocks that did not come, and why. */
  readonly failed: Map<string, PlacementError>;
}

interface Deferred {
  readonly promise: Promise<Buffer>;
  resolve(data: Buffer): void;
  reject(err: PlacementError): void;
}

interface Queued {
  readonly hash: Buffer;
  readonly key: string;
  readonly id: NodeId | undefined;
}

/** Blocks fetched ahead of reads kept in memory until a read takes them (bounded: twice the largest read-ahead window). */
const RECENT_BLOCKS = 512;

export class Fetcher {
  readonly #opts: FetcherOptions;
  #sources: BlockSource[] = [];
  /** Every block being fetched, whatever for: a read of it joins the fetch under way. */
  readonly #inflight = new Map<string, Deferred>();
  /** Blocks read ahead that arrived: the read that wants them takes them from here, not the disk. */
  readonly #recent = new Map<string, Buffer>();
  readonly #batches: Record<'read' | 'ahead', Queued[]> = { read: [], ahead: [] };
  #scheduled = false;
  #closed = false;
  /** Blocks fetched and bytes, since start (status, bench). */
  readonly stats = { requests: 0, blocks: 0, bytes: 0, failures: 0 };

  constructor(opts: FetcherOptions) {
    this.#opts = opts;
  }

  addSource(s: BlockSource): void {
    if (!this.#sources.includes(s)) this.#sources.push(s);
  }

  removeSource(s: BlockSource): void {
    this.#sources = this.#sources.filter((x) => x !== s);
  }

  /** The peers connected now. */
  get peers(): string[] {
    return this.#sources.map((s) => s.peer);
  }

  get connected(): boolean {
    return this.#sources.length > 0;
  }

  /** True while a fetch of this block is under way. */
  fetching(key: string): boolean {
    return this.#inflight.has(key) || this.#recent.has(key);
  }

  /**
   * A block just fetched, or on its way: its content (taken from memory: it was checked when
   * it came), or the promise of it; null when it is neither.
   */
  recent(hash: Uint8Array): Buffer | Promise<Buffer> | null {
    const key = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
    const data = this.#take(key);
    if (data !== undefined) return data;
    return this.#inflight.get(key)?.promise ?? null;
  }

  /**
   * Keeps a block fetched ahead until a read takes it. A block that came in a message of
   * blocks is a view of it: the message is held (FrameLease) until the block is taken or dropped.
   */
  #keep(key: string, data: Buffer): void {
    this.#take(key);
    FrameLease.of(data)?.hold();
    this.#recent.set(key, data);
  }

  /** Takes a block kept by #keep (the reader copies it in this turn: the message is let go after). */
  #take(key: string): Buffer | undefined {
    const data = this.#recent.get(key);
    if (data === undefined) return undefined;
    this.#recent.delete(key);
    FrameLease.of(data)?.release();
    return data;
  }

  #defer(key: string): Deferred {
    let resolve!: (d: Buffer) => void;
    let reject!: (e: PlacementError) => void;
    const promise = new Promise<Buffer>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // a read-ahead nobody reads
    const d: Deferred = {
      promise,
      resolve: (data) => {
        if (this.#inflight.get(key) === d) this.#inflight.delete(key);
        resolve(data);
      },
      reject: (err) => {
        if (this.#inflight.get(key) === d) this.#inflight.delete(key);
        reject(err);
      },
    };
    this.#inflight.set(key, d);
    return d;
  }

  /** One block: joins a fetch of it already under way, else this turn's request. */
  fetchOne(hash: Uint8Array, kind: 'read' | 'ahead' = 'read', id?: NodeId): Promise<Buffer> {
    const h = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength);
    const key = h.toString('hex');
    const near = this.#take(key);
    if (near !== undefined) return Promise.resolve(near);
    const running = this.#inflight.get(key);
    if (running !== undefined) return running.promise;
    if (this.#closed) return Promise.reject(new PlacementError('CLOSED', 'the placement service is closed'));
    if (this.#sources.length === 0) {
      this.stats.failures++;
      return Promise.reject(new PlacementError('UNAVAILABLE', 'no peer is connected'));
    }
    const d = this.#defer(key);
    this.#batches[kind].push({ hash: Buffer.from(h), key, id });
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return d.promise;
  }

  #flush(): void {
    this.#scheduled = false;
    for (const kind of ['read', 'ahead'] as const) {
      const batch = this.#batches[kind];
      if (batch.length === 0) continue;
      this.#batches[kind] = [];
      void this.#run(batch.map((w) => w.hash), kind, batch[0]!.id);
    }
  }

  /** Many blocks at once (realizing a file); never rejects: what did not come is in `failed`. */
  async fetchMany(hashes: readonly Uint8Array[], kind: FetchKind = 'realize', id?: NodeId): Promise<FetchOutcome> {
    const bufs: Buffer[] = [];
    const joined: Array<[string, Promise<Buffer>]> = [];
    for (const h of hashes) {
      const b = Buffer.from(h.buffer, h.byteOffset, h.byteLength);
      const key = b.toString('hex');
      const running = this.#inflight.get(key);
      if (running !== undefined) joined.push([key, running.promise]);
      else {
        this.#defer(key);
        bufs.push(b);
      }
    }
    const own = bufs.length > 0 ? await this.#run(bufs, kind, id) : { got: new Map<string, Buffer>(), failed: new Map<string, PlacementError>() };
    for (const [key, p] of joined) {
      await p.then(
        (data) => own.got.set(key, data),
        (err: unknown) => own.failed.set(key, err instanceof PlacementError ? err : new PlacementError('UNAVAILABLE', String(err))),
      );
    }
    return own;
  }

  /** Fetches blocks whose deferreds are in #inflight; settles each as it comes or fails. */
  async #run(hashes: readonly Buffer[], kind: FetchKind, id: NodeId | undefined): Promise<FetchOutcome> {
    const got = new Map<string, Buffer>();
    const sizes = new Map<string, number>();
    const failed = new Map<string, PlacementError>();
    const arrived = (key: string, data: Buffer): void => {
      if (got.has(key)) return;
      got.set(key, data);
      sizes.set(key, data.byteLength);
      this.stats.blocks++;
      this.stats.bytes += data.byteLength;
      if (kind === 'ahead') {
        this.#keep(key, data);
        while (this.#recent.size > RECENT_BLOCKS) this.#take(this.#recent.keys().next().value!);
      }
      this.#inflight.get(key)?.resolve(data);
    };
    let remaining = hashes;
    const asked: string[] = [];
    let timedOut = false;
    const deadline = Date.now() + this.#opts.timeoutMs();
    if (this.#closed) remaining = hashes;
    else {
      for (const src of [...this.#sources]) {
        if (remaining.length === 0) break;
        const left = deadline - Date.now();
        if (left <= 0) {
          timedOut = true;
          break;
        }
        asked.push(src.peer.slice(0, 12));
        this.stats.requests++;
        let answer: Map<string, Buffer> | null;
        try {
          answer = await withDeadline(src.request(remaining, arrived), left);
        } catch {
          answer = new Map();
        }
        if (answer !== null) for (const [k, v] of answer) arrived(k, v);
        if (got.size > 0) this.#sources = [src, ...this.#sources.filter((s) => s !== src)]; // it gave blocks: ask it first next time
        remaining = remaining.filter((h) => !got.has(h.toString('hex')));
        if (answer === null) {
          timedOut = true;
          break;
        }
      }
    }
    if (remaining.length > 0) {
      const why = this.#closed
        ? new PlacementError('CLOSED', 'the placement service is closed')
        : asked.length === 0
          ? new PlacementError('UNAVAILABLE', 'no peer is connected')
          : timedOut
            ? new PlacementError('TIMEOUT', `no answer within ${this.#opts.timeoutMs()} ms from the peers asked (${asked.join(', ')})`)
            : new PlacementError('UNAVAILABLE', `no connected peer has it (asked ${asked.join(', ')})`);
      for (const h of remaining) {
        const key = h.toString('hex');
        failed.set(key, why);
        this.#inflight.get(key)?.reject(why);
      }
      this.stats.failures += remaining.length;
    }
    if (sizes.size > 0) this.#opts.onFetched?.(sizes, kind, id);
    return { got, failed };
  }

  close(): void {
    this.#closed = true;
    this.#sources = [];
    for (const key of [...this.#recent.keys()]) this.#take(key);
    const err = new PlacementError('CLOSED', 'the placement service is closed');
    for (const d of [...this.#inflight.values()]) d.reject(err);
  }
}

/** The value, or null when it did not come within `ms`. */
function withDeadline<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), ms);
      timer.unref();
    }),
  ]);
}
