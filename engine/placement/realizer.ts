/**
 * Making content Real: every block of the current version of each file this peer keeps Real
 * is fetched from connected peers, in the background, until the file is complete here (and
 * thereby pinned: protection.ts never lets those blocks go). Later versions of Real files
 * arrive with sync, which asks for the blocks of Real files only (engine/sync/block-needs.ts).
 *
 * What is missing is worked out from the projections (the marks are in the log), never kept
 * anywhere else: a restart midway scans again and carries on where the block store stands.
 * Before each batch, room is made on the disk (the cache gives way: Real wins); with no peer
 * connected it waits for one; blocks no peer could give are asked for again later.
 */
import type { NodeId } from '../../log/index.js';
import type { PlacementHost } from './host.js';
import type { Fetcher } from './fetcher.js';
import { distinctBlocks, filesUnder } from './presence.js';
import { PlacementResolver } from './resolve.js';

const BATCH = 64;
const RETRY_MS = 2000;

export interface RealizerOptions {
  /** Makes `bytes` of room on the disk for Real content; false when it cannot (then it waits). */
  readonly makeRoom: (bytes: number) => Promise<boolean>;
  readonly log?: (line: string) => void;
  readonly retryMs?: number;
}

export interface RealizeProgress {
  /** Blocks still to fetch, and their bytes. */
  readonly queuedBlocks: number;
  readonly queuedBytes: number;
  /** Fetched since start. */
  readonly fetchedBlocks: number;
  readonly fetchedBytes: number;
  /** Why it is waiting, when it is ('no peer is connected', 'no disk space', the last failure). */
  readonly waiting: string | null;
}

interface Want {
  readonly hash: Buffer;
  readonly bytes: number;
  readonly id: NodeId;
}

export class Realizer {
  readonly #engine: PlacementHost;
  readonly #fetcher: Fetcher;
  readonly #opts: RealizerOptions;
  readonly #queue = new Map<string, Want>();
  #scopes: Array<NodeId | null> = [];
  #running: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #closed = false;
  #fetchedBlocks = 0;
  #fetchedBytes = 0;
  #waiting: string | null = null;
  #idle: Array<() => void> = [];

  constructor(engine: PlacementHost, fetcher: Fetcher, opts: RealizerOptions) {
    this.#engine = engine;
    this.#fetcher = fetcher;
    this.#opts = opts;
  }

  /** Looks for missing Real content under node `scope` (everything when null), then fetches it. */
  request(scope: NodeId | null = null): void {
    if (this.#closed) return;
    if (scope === null) this.#scopes = [null];
    else if (!this.#scopes.includes(null) && !this.#scopes.includes(scope)) this.#scopes.push(scope);
    this.#kick();
  }

  /** A peer connected (or something else changed): try again now. */
  poke(): void {
    this.#wake?.();
  }

  get progress(): RealizeProgress {
    let queuedBytes = 0;
    for (const w of this.#queue.values()) queuedBytes += w.bytes;
    return { queuedBlocks: this.#queue.size, queuedBytes, fetchedBlocks: this.#fetchedBlocks, fetchedBytes: this.#fetchedBytes, waiting: this.#waiting };
  }

  /** Resolves once nothing is queued or being scanned. */
  idle(): Promise<void> {
    if (this.#running === null && this.#queue.size === 0 && this.#scopes.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #kick(): void {
    if (this.#running !== null) {
      this.#wake?.();
      return;
    }
    this.#running = this.#loop()
      .catch((err: unknown) => this.#opts.log?.(`realize: fetching Real content failed: ${(err as Error).message}`))
      .finally(() => {
        this.#running = null;
        if (!this.#closed && (this.#scopes.length > 0 || this.#queue.size > 0)) this.#kick();
        else for (const r of this.#idle.splice(0)) r();
      });
  }

  /** Lets the event loop breathe during a long scan (it runs inside the FUSE server). */
  static readonly YIELD_EVERY = 1000;

  async #scan(scope: NodeId | null): Promise<void> {
    const p = this.#engine.projections;
    const self = this.#engine.store.publicKey;
    const resolver = new PlacementResolver(p);
    const ids: Iterable<NodeId> =
      scope === null
        ? (function* () {
            for (const [id] of p.content.rows()) yield id;
          })()
        : filesUnder((dir) => p.tree.children(dir), (id) => p.tree.node(id)?.kind, scope);
    let n = 0;
    for (const id of [...ids]) {
      if (++n % Realizer.YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
      if (this.#closed) return;
      const node = p.tree.node(id);
      if (node === undefined || node.nlink === 0 || node.kind !== 'file') continue;
      if (resolver.of(self, id).placement !== 'real') continue;
      const row = p.content.row(id);
      if (row === undefined) continue;
      for (const b of distinctBlocks(row)) {
        const k = Buffer.from(b.hash).toString('hex');
        if (this.#queue.has(k) || this.#engine.blocks.has(b.hash)) continue;
        this.#queue.set(k, { hash: Buffer.from(b.hash), bytes: b.bytes, id });
      }
    }
  }

  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      t.unref();
      this.#wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.#wake = null;
  }

  async #loop(): Promise<void> {
    while (!this.#closed) {
      while (this.#scopes.length > 0) await this.#scan(this.#scopes.shift()!);
      // Drop what arrived meanwhile (sync, reads) or stopped being wanted.
      for (const [k, w] of this.#queue) if (this.#engine.blocks.has(w.hash)) this.#queue.delete(k);
      if (this.#queue.size === 0) {
        this.#waiting = null;
        return;
      }
      if (!this.#fetcher.connected) {
        this.#waiting = 'no peer is connected';
        await this.#sleep(this.#opts.retryMs ?? RETRY_MS);
        continue;
      }
      const batch = [...this.#queue.values()].slice(0, BATCH);
      const bytes = batch.reduce((n, w) => n + w.bytes, 0);
      if (!(await this.#opts.makeRoom(bytes))) {
        this.#waiting = 'not enough free disk space for Real content (the cache holds only protected blocks)';
        await this.#sleep(this.#opts.retryMs ?? RETRY_MS);
        continue;
      }
      const { got, failed } = await this.#fetcher.fetchMany(batch.map((w) => w.hash), 'realize', batch[0]!.id);
      // Real content is complete here only once it is on disk (the block store stages puts).
      if (got.size > 0) await this.#engine.blocks.sync();
      for (const w of batch) {
        const k = w.hash.toString('hex');
        if (got.has(k)) {
          this.#queue.delete(k);
          this.#fetchedBlocks++;
          this.#fetchedBytes += w.bytes;
        } else {
          // To the back of the queue: others may come from elsewhere first.
          this.#queue.delete(k);
          this.#queue.set(k, w);
        }
      }
      if (got.size === 0) {
        const why = [...failed.values()][0];
        this.#waiting = why?.message ?? 'no peer had the blocks';
        await this.#sleep(this.#opts.retryMs ?? RETRY_MS);
      } else {
        this.#waiting = null;
      }
    }
  }

  /** Stops; resolves once the work under way has stopped. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wake?.();
    for (const r of this.#idle.splice(0)) r();
    await this.#running?.catch(() => undefined);
  }
}
