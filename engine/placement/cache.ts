/**
 * The content cache of this peer: the blocks of Unreal content held here. They live in the
 * block store with every other block (one store, one disk: Real content and the cache
 * compete for the same space); the cache table (projections/placement.ts) says which blocks
 * are cache and when each was last read. Reads refresh that time in memory; it is written
 * to the table in batches.
 *
 * enforce() brings the cache under its budget: the effective budget is the configured size,
 * shrunk when the disk's free space falls under the reserve kept for Real content (Real
 * wins); protected blocks (protection.ts) never count and never go; the least recently read
 * of the rest are evicted (eviction.ts). Passes never overlap.
 */
import { statfs } from 'node:fs/promises';
import type { PlacementHost } from './host.js';
import { type CacheSettings, reserveFor } from './config.js';
import { evictBlocks, planEviction, type CacheBlock } from './eviction.js';
import type { PeerView } from './peer-view.js';
import { scanProtection, type ProtectReason } from './protection.js';

export interface DiskSpace {
  readonly free: number;
  readonly total: number;
}

export interface CacheOptions {
  readonly settings: () => CacheSettings;
  readonly view: () => Promise<PeerView>;
  /** The store's disk (statfs of the store by default; tests pretend). */
  readonly disk?: () => Promise<DiskSpace>;
  readonly now?: () => number;
}

export interface EnforceReport {
  /** The configured cache size. */
  readonly sizeBytes: number;
  /** The budget this pass applied (smaller when the disk is short of free space). */
  readonly budget: number;
  /** Evictable bytes before and after. */
  readonly usage: number;
  readonly after: number;
  /** Bytes of cache-table blocks that must stay, by reason. */
  readonly protectedBytes: number;
  readonly protectedBy: Readonly<Record<ProtectReason, number>>;
  readonly evictedBlocks: number;
  readonly evictedBytes: number;
  /** Disk bytes given back at once (packs rewritten or cut); the rest as packs are rewritten later. */
  readonly freedDiskBytes: number;
  /** Blocks of Unreal files found held and added to the cache. */
  readonly admitted: number;
}

export class ContentCache {
  readonly #engine: PlacementHost;
  readonly #opts: CacheOptions;
  /** Reads and arrivals not yet written to the table: hex -> [hash, time]. */
  readonly #dirty = new Map<string, readonly [Buffer, number]>();
  /** Evictable bytes as of the last pass, plus what came since (a trigger, not a truth). */
  #estimate = 0;
  #running: Promise<EnforceReport> | null = null;
  #again = false;

  constructor(engine: PlacementHost, opts: CacheOptions) {
    this.#engine = engine;
    this.#opts = opts;
  }

  get #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  /** Blocks fetched for reads (hex hash -> size): they join the cache, read just now. */
  admit(blocks: ReadonlyMap<string, number>): void {
    const now = this.#now;
    for (const [k, size] of blocks) {
      if (!this.#dirty.has(k)) this.#estimate += size;
      this.#dirty.set(k, [Buffer.from(k, 'hex'), now]);
    }
  }

  /** A block was read: if it is cache, it becomes the most recently read. */
  touch(hash: Uint8Array): void {
    const k = Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');
    const d = this.#dirty.get(k);
    if (d !== undefined) {
      this.#dirty.set(k, [d[0], this.#now]);
      return;
    }
    if (this.#engine.projections.cache.has(hash)) this.#dirty.set(k, [Buffer.from(hash), this.#now]);
  }

  /** True when the blocks that came since the last pass may have put the cache over its budget. */
  get overBudget(): boolean {
    return this.#estimate > this.#opts.settings().sizeBytes;
  }

  /** Writes the read times gathered so far to the table. */
  async flush(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const rows = [...this.#dirty.values()];
    this.#dirty.clear();
    await this.#engine.projections.cache.put(rows);
  }

  /** The cache's blocks held here, oldest read first is not implied. */
  #blocks(): CacheBlock[] {
    const p = this.#engine.projections;
    const out: CacheBlock[] = [];
    const stale: Buffer[] = [];
    for (const [hash, atime] of p.cache.entries()) {
      const loc = p.blockIndex.get(hash);
      if (loc === undefined) {
        stale.push(Buffer.from(hash));
        continue;
      }
      out.push({ hash: Buffer.from(hash), key: hash.toString('hex'), stored: loc.stored, atime });
    }
    if (stale.length > 0) void p.cache.remove(stale);
    return out;
  }

  /** Resolves when no pass is running. */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running.catch(() => undefined);
  }

  /** Brings the cache under its budget; `room` more free bytes are wanted on the disk (Real content coming). */
  enforce(opts: { room?: number } = {}): Promise<EnforceReport> {
    if (this.#running !== null) {
      this.#again = true;
      return this.#running;
    }
    const run = (async (): Promise<EnforceReport> => {
      try {
        return await this.#enforce(opts.room ?? 0);
      } finally {
        this.#running = null;
      }
    })();
    this.#running = run;
    return run;
  }

  async #enforce(room: number): Promise<EnforceReport> {
    await this.flush();
    const settings = this.#opts.settings();
    const p = this.#engine.projections;
    let blocks = this.#blocks();
    const keys = new Set(blocks.map((b) => b.key));
    const scan = await scanProtection(this.#engine, await this.#opts.view(), keys);
    if (scan.admit.length > 0) {
      await p.cache.put(scan.admit);
      blocks = this.#blocks();
    }
    const isProtected = (k: string): boolean => scan.protect.has(k);
    let budget = settings.sizeBytes;
    const first = planEviction(blocks, isProtected, Number.POSITIVE_INFINITY);
    const disk = await (this.#opts.disk ?? (() => diskOf(this.#engine.store.layout.root)))();
    const reserve = reserveFor(settings, disk.total) + room;
    if (disk.free < reserve) budget = Math.min(budget, Math.max(0, first.usage - (reserve - disk.free)));
    const plan = planEviction(blocks, isProtected, budget);
    const protectedBy: Record<ProtectReason, number> = { real: 0, unacked: 0, 'only-copy': 0 };
    for (const b of blocks) {
      const why = scan.protect.get(b.key);
      if (why !== undefined) protectedBy[why] += b.stored;
    }
    const freed = await evictBlocks(this.#engine, plan.victims);
    if (plan.victims.length > 0) await p.cache.remove(plan.victims.map((v) => v.hash));
    this.#estimate = plan.after;
    const report: EnforceReport = {
      sizeBytes: settings.sizeBytes,
      budget,
      usage: plan.usage,
      after: plan.after,
      protectedBytes: plan.protectedBytes,
      protectedBy,
      evictedBlocks: plan.victims.length,
      evictedBytes: plan.victims.reduce((n, v) => n + v.stored, 0),
      freedDiskBytes: freed.freedBytes,
      admitted: scan.admit.length,
    };
    if (this.#again) {
      this.#again = false;
      if (this.overBudget) setImmediate(() => void this.enforce().catch(() => undefined));
    }
    return report;
  }
}

export async function diskOf(path: string): Promise<DiskSpace> {
  const s = await statfs(path);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}
