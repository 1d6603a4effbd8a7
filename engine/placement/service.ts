/**
 * The placement service of a writable engine (PlacementHost.placement): it answers the reads that
 * need blocks this peer lacks (fetching them from connected peers, with read-ahead), keeps
 * the content cache (LRU times, the budget, eviction), realizes content marked Real, and
 * tells sync which files' blocks to ask for. It is idle until a peer connects (a sync
 * session registers as a block source) or a command asks it for something; then it also
 * checks the cache now and then (settings changed, peers acknowledged, marks changed).
 */
import type { NodeId, Placement } from '../../log/index.js';
import type { PlacementHost } from './host.js';
import { EngineError } from '../engine-error.js';
import { ContentCache, diskOf, type DiskSpace, type EnforceReport } from './cache.js';
import { DEFAULT_SETTINGS, readSettings, reserveFor, type CacheSettings } from './config.js';
import { Fetcher, type BlockSource, type FetchKind } from './fetcher.js';
import { viewFromStore, viewOfHost, type PeerView, type PeerViewHost } from './peer-view.js';
import { PlacementError } from './placement-error.js';
import { Readahead } from './readahead.js';
import { Realizer } from './realizer.js';
import { placementOf } from './resolve.js';
import { UnavailableLog } from './unavailable.js';

/** Where in a file a block sits: what a read hands the service with a block it needs. */
export interface BlockContext {
  readonly id?: NodeId;
  /** The file's block list (32-byte hashes). */
  readonly blocks: Uint8Array;
  readonly index: number;
}

export interface PlacementOptions {
  readonly disk?: () => Promise<DiskSpace>;
  readonly log?: (line: string) => void;
  /** How often to check the cache and look for missing Real content with no other reason (ms); default 10 min. */
  readonly checkEveryMs?: number;
  /** Overrides the settings file (tests). */
  readonly settings?: Partial<CacheSettings>;
}

const SETTINGS_EVERY_MS = 5000;
const FLUSH_EVERY_MS = 5000;
/**
 * How long blocks served to peers wait to be noted in the served table, together: a peer
 * streaming an Unreal file asks for 2 MiB at a time, and a table write (an LMDB commit) per
 * message was a tenth of the serving side's event loop. Late is safe: until noted, a block
 * only counts as not yet held by that peer (it stays protected a moment longer).
 */
const SERVED_EVERY_MS = 250;

export class PlacementService {
  readonly #engine: PlacementHost;
  #opts: PlacementOptions;
  readonly fetcher: Fetcher;
  readonly cache: ContentCache;
  readonly realizer: Realizer;
  readonly unavailable: UnavailableLog;
  readonly #readahead = new Readahead();
  #settings: CacheSettings;
  #host: PeerViewHost | null = null;
  #started = false;
  #closed = false;
  readonly #timers: NodeJS.Timeout[] = [];
  #enforceSoon: NodeJS.Timeout | null = null;
  #lastEnforce: EnforceReport | null = null;
  /** fetcher.stats.blocks when the block store was last synced by the timer. */
  #syncedAt = 0;
  /** Blocks served, by peer, not noted in the served table yet (see SERVED_EVERY_MS). */
  readonly #served = new Map<string, Uint8Array[]>();
  #servedSoon: NodeJS.Timeout | null = null;

  constructor(engine: PlacementHost, opts: PlacementOptions = {}) {
    this.#engine = engine;
    this.#opts = opts;
    this.#settings = { ...DEFAULT_SETTINGS, ...opts.settings };
    this.unavailable = new UnavailableLog(engine.store.layout.root);
    this.fetcher = new Fetcher({
      timeoutMs: () => this.#settings.fetchTimeoutMs,
      onFetched: (blocks, kind, id) => this.#fetched(blocks, kind, id),
    });
    this.cache = new ContentCache(engine, {
      settings: () => this.#settings,
      view: () => this.view(),
      disk: () => this.#disk(),
    });
    // Blocks fetched ahead are handed to the reads from memory: the store's prefetch (the
    // mount's sequential reads) need not read them back from their pack.
    engine.blocks.heldElsewhere((key) => this.fetcher.fetching(key));
    this.realizer = new Realizer(engine, this.fetcher, {
      makeRoom: (bytes) => this.#makeRoom(bytes),
      ...(opts.log ? { log: opts.log } : {}),
    });
  }

  get settings(): CacheSettings {
    return this.#settings;
  }

  /** Changes options after the engine opened it (tests: a pretend disk, settings, a quicker check). */
  configure(opts: Partial<PlacementOptions>): void {
    this.#opts = { ...this.#opts, ...opts };
    if (opts.settings !== undefined) this.#settings = { ...this.#settings, ...opts.settings };
  }

  #disk(): Promise<DiskSpace> {
    return (this.#opts.disk ?? (() => diskOf(this.#engine.store.layout.root)))();
  }

  /** The last cache check's figures (null before the first). */
  get lastEnforce(): EnforceReport | null {
    return this.#lastEnforce;
  }

  /** Rereads <store>/placement/cache.json. */
  async reloadSettings(): Promise<CacheSettings> {
    const read = await readSettings(this.#engine.store.layout.root).catch(() => this.#settings);
    this.#settings = { ...read, ...this.#opts.settings };
    return this.#settings;
  }

  /** What this peer knows of the others: a running sync node's view, else the store's. */
  async view(): Promise<PeerView> {
    return this.#host !== null ? viewOfHost(this.#host) : viewFromStore(this.#engine);
  }

  /** Starts the background work: the initial scan for Real content, and the periodic checks. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    void this.reloadSettings().then(() => {
      if (this.#closed) return;
      this.realizer.request(null);
      if (this.cache.overBudget) this.#scheduleEnforce();
    });
    const every = (ms: number, fn: () => Promise<unknown>): void => {
      const t = setInterval(() => void fn().catch((err: unknown) => this.#opts.log?.(`placement: ${(err as Error).message}`)), ms);
      t.unref();
      this.#timers.push(t);
    };
    every(SETTINGS_EVERY_MS, async () => {
      const before = this.#settings.sizeBytes;
      await this.reloadSettings();
      if (this.#settings.sizeBytes < before || this.cache.overBudget) this.#scheduleEnforce();
    });
    every(FLUSH_EVERY_MS, async () => {
      await this.cache.flush();
      // Blocks fetched for reads are staged by the block store: write them out now and then,
      // so that `realize status` (another process) sees them and a restart keeps them.
      if (this.fetcher.stats.blocks !== this.#syncedAt) {
        this.#syncedAt = this.fetcher.stats.blocks;
        await this.#engine.blocks.sync();
      }
    });
    every(this.#opts.checkEveryMs ?? 600_000, async () => {
      // Files moved into Real directories, marks that arrived in a rebuild: look again.
      this.realizer.request(null);
      await this.enforce();
    });
  }

  // ---------------------------------------------------------------- sync

  /** A connected peer's session offers its blocks. */
  addSource(source: BlockSource, host?: PeerViewHost): void {
    if (this.#closed) return;
    if (host !== undefined) this.#host = host;
    this.fetcher.addSource(source);
    this.start();
    this.realizer.poke();
  }

  removeSource(source: BlockSource): void {
    this.fetcher.removeSource(source);
  }

  /** Whether this peer keeps file `id` Real (sync asks for the blocks of those only). */
  wants(id: NodeId): boolean {
    return placementOf(this.#engine.projections, this.#engine.store.publicKey, id).placement === 'real';
  }

  /** Blocks were served to `peer`: it holds copies now. */
  served(peer: string, hashes: readonly Uint8Array[]): void {
    if (hashes.length === 0 || this.#closed) return;
    const list = this.#served.get(peer);
    if (list === undefined) this.#served.set(peer, [...hashes]);
    else for (const h of hashes) list.push(h);
    if (this.#servedSoon === null) {
      this.#servedSoon = setTimeout(() => void this.#noteServed(), SERVED_EVERY_MS);
      this.#servedSoon.unref();
    }
  }

  /** Writes the blocks served since the last time to the served table. */
  async #noteServed(): Promise<void> {
    if (this.#servedSoon !== null) clearTimeout(this.#servedSoon);
    this.#servedSoon = null;
    const all = [...this.#served];
    this.#served.clear();
    await Promise.all(all.map(([peer, hashes]) => this.#engine.projections.served.add(peer, hashes).catch(() => undefined)));
  }

  /** This peer marked node `id`. */
  marked(id: NodeId, placement: Placement): void {
    if (placement === 'real') {
      this.realizer.request(id);
    } else if (this.#started) {
      this.#scheduleEnforce();
    }
  }

  // ---------------------------------------------------------------- reads (Snapshot's hook)

  /** A read needs a block that is not here: fetch it, or fail with BLOCK_MISSING (EIO) saying why. */
  async fetch(hash: Uint8Array, at: BlockContext): Promise<Uint8Array> {
    try {
      const data = await this.fetcher.fetchOne(hash, 'read', at.id);
      if (at.id !== undefined) this.unavailable.succeeded(at.id);
      return data;
    } catch (err) {
      const why = err instanceof PlacementError ? err.message : String(err);
      if (at.id !== undefined) this.unavailable.failed(at.id, why, Date.now());
      throw new EngineError('BLOCK_MISSING', `block ${Buffer.from(hash).toString('hex').slice(0, 16)}… is not here and could not be fetched: ${why}`, { cause: err });
    }
  }

  /** A block fetched a moment ago or on its way (reads take it from memory). */
  recent(hash: Uint8Array): Uint8Array | Promise<Uint8Array> | null {
    return this.fetcher.recent(hash);
  }

  /** A read is done: LRU times of its blocks, and read-ahead of what follows. */
  read(at: { readonly id?: NodeId; readonly blocks: Uint8Array; readonly first: number; readonly last: number }): void {
    for (let i = at.first; i <= at.last; i++) {
      const h = at.blocks.subarray(i * 32, i * 32 + 32);
      if (h.byteLength === 32 && !isZero(h)) this.cache.touch(h);
    }
    if (at.id === undefined || !this.fetcher.connected) return;
    const count = at.blocks.byteLength / 32;
    for (const i of this.#readahead.onRead(at.id, at.first, at.last, count)) {
      const h = at.blocks.subarray(i * 32, i * 32 + 32);
      if (isZero(h) || this.#engine.blocks.has(h) || this.fetcher.fetching(Buffer.from(h).toString('hex'))) continue;
      this.fetcher.fetchOne(h, 'ahead', at.id).catch(() => undefined);
    }
  }

  #fetched(blocks: ReadonlyMap<string, number>, kind: FetchKind, _id: NodeId | undefined): void {
    if (kind === 'realize') return; // Real content: pinned, not cache
    this.cache.admit(blocks);
    if (this.cache.overBudget) this.#scheduleEnforce();
  }

  // ---------------------------------------------------------------- the cache

  #scheduleEnforce(): void {
    if (this.#enforceSoon !== null || this.#closed) return;
    this.#enforceSoon = setTimeout(() => {
      this.#enforceSoon = null;
      void this.enforce().catch((err: unknown) => this.#opts.log?.(`placement: cache eviction failed: ${(err as Error).message}`));
    }, 250);
    this.#enforceSoon.unref();
  }

  /** Checks the cache now: admits Unreal content, evicts over the budget. */
  async enforce(room = 0): Promise<EnforceReport> {
    if (this.#closed) throw new PlacementError('CLOSED', 'the placement service is closed');
    await this.reloadSettings();
    await this.#noteServed(); // what peers hold decides what may go
    const r = await this.cache.enforce({ room });
    this.#lastEnforce = r;
    return r;
  }

  /**
   * Room on the disk for `bytes` of Real content: when it would eat into the reserve, the
   * cache shrinks first (Real wins). Real content may use the reserve (it is kept for it).
   */
  async #makeRoom(bytes: number): Promise<boolean> {
    const now = await this.#disk();
    if (now.free - bytes >= reserveFor(this.#settings, now.total)) return true;
    await this.enforce(bytes);
    return (await this.#disk()).free >= bytes;
  }

  /** Writes what is kept in memory (read times, unavailable files); stops the background work. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    if (this.#enforceSoon !== null) clearTimeout(this.#enforceSoon);
    this.fetcher.close();
    this.#engine.blocks.heldElsewhere(null);
    await this.#noteServed();
    await this.realizer.close();
    await this.cache.idle();
    await this.cache.flush().catch(() => undefined);
    await this.unavailable.save().catch(() => undefined);
  }
}

function isZero(h: Uint8Array): boolean {
  for (let i = 0; i < h.byteLength; i++) if (h[i] !== 0) return false;
  return true;
}
