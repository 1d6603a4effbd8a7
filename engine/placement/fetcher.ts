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
import { PlacementError } from './placement-error.js';

export interface BlockSource {
  /** The peer's key (hex). */
  readonly peer: string;
  /** Asks the peer for blocks; resolves with those it gave (hex hash -> content), verified and stored. */
  request(hashes: readonly Buffer[]): Promise<Map<string, Buffer>>;
}

/** Why a block is wanted: a read waits for it, read-ahead expects a read, realize makes a file Real. */
export type FetchKind = 'read' | 'ahead' | 'realize';

export interface FetcherOptions {
  /** The deadline of a fetch (read each time: settings can change). */
  readonly timeoutMs: () => number;
  /** Called with the blocks each fetch brought. */
  readonly onFetched?: (blocks: ReadonlyMap<string, Buffer>, kind: FetchKind, id: NodeId | undefined) => void;
}

export interface FetchOutcome {
  readonly got: Map<string, Buffer>;
  /** Blocks that did not come, and why. */
  readonly failed: Map<string, PlacementError>;
}

interface Waiter {
  readonly hash: Buffer;
  readonly key: string;
  readonly id: NodeId | undefined;
  resolve(data: Buffer): void;
  reject(err: PlacementError): void;
}

export class Fetcher {
  readonly #opts: FetcherOptions;
  #sources: BlockSource[] = [];
  readonly #inflight = new Map<string, Promise<Buffer>>();
  readonly #batches: Record<'read' | 'ahead', Waiter[]> = { read: [], ahead: [] };
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
    return this.#inflight.has(key);
  }

  /** One block: joins a fetch of it already under way, else this turn's request. */
  fetchOne(hash: Uint8Array, kind: 'read' | 'ahead' = 'read', id?: NodeId): Promise<Buffer> {
    const h = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength);
    const key = h.toString('hex');
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    if (this.#closed) return Promise.reject(new PlacementError('CLOSED', 'the placement service is closed'));
    if (this.#sources.length === 0) {
      this.stats.failures++;
      return Promise.reject(new PlacementError('UNAVAILABLE', 'no peer is connected'));
    }
    const p = new Promise<Buffer>((resolve, reject) => {
      this.#batches[kind].push({ hash: Buffer.from(h), key, id, resolve, reject });
    });
    this.#inflight.set(key, p);
    p.then(
      () => this.#inflight.delete(key),
      () => this.#inflight.delete(key),
    );
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return p;
  }

  #flush(): void {
    this.#scheduled = false;
    for (const kind of ['read', 'ahead'] as const) {
      const batch = this.#batches[kind];
      if (batch.length === 0) continue;
      this.#batches[kind] = [];
      void this.#run(batch.map((w) => w.hash), kind, batch[0]!.id).then(({ got, failed }) => {
        for (const w of batch) {
          const data = got.get(w.key);
          if (data !== undefined) w.resolve(data);
          else w.reject(failed.get(w.key) ?? new PlacementError('UNAVAILABLE', `block ${w.key.slice(0, 16)}… did not come`));
        }
      });
    }
  }

  /** Many blocks at once (realizing a file); never rejects: what did not come is in `failed`. */
  async fetchMany(hashes: readonly Uint8Array[], kind: FetchKind = 'realize', id?: NodeId): Promise<FetchOutcome> {
    const bufs = hashes.map((h) => Buffer.from(h.buffer, h.byteOffset, h.byteLength));
    if (this.#closed) {
      const err = new PlacementError('CLOSED', 'the placement service is closed');
      return { got: new Map(), failed: new Map(bufs.map((b) => [b.toString('hex'), err])) };
    }
    return this.#run(bufs, kind, id);
  }

  async #run(hashes: readonly Buffer[], kind: FetchKind, id: NodeId | undefined): Promise<FetchOutcome> {
    const got = new Map<string, Buffer>();
    const failed = new Map<string, PlacementError>();
    let remaining = hashes;
    const asked: string[] = [];
    let timedOut = false;
    const deadline = Date.now() + this.#opts.timeoutMs();
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
        answer = await withDeadline(src.request(remaining), left);
      } catch {
        answer = new Map();
      }
      if (answer === null) {
        timedOut = true;
        break;
      }
      if (answer.size > 0) {
        // The source that gave blocks is asked first next time.
        this.#sources = [src, ...this.#sources.filter((s) => s !== src)];
        for (const [k, v] of answer) {
          got.set(k, v);
          this.stats.blocks++;
          this.stats.bytes += v.byteLength;
        }
        remaining = remaining.filter((h) => !answer!.has(h.toString('hex')));
      }
    }
    if (remaining.length > 0) {
      const why =
        asked.length === 0
          ? new PlacementError('UNAVAILABLE', 'no peer is connected')
          : timedOut
            ? new PlacementError('TIMEOUT', `no answer within ${this.#opts.timeoutMs()} ms from the peers asked (${asked.join(', ')})`)
            : new PlacementError('UNAVAILABLE', `no connected peer has it (asked ${asked.join(', ')})`);
      for (const h of remaining) failed.set(h.toString('hex'), why);
      this.stats.failures += remaining.length;
    }
    if (got.size > 0) this.#opts.onFetched?.(got, kind, id);
    return { got, failed };
  }

  close(): void {
    this.#closed = true;
    this.#sources = [];
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
