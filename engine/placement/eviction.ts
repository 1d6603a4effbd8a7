/**
 * Choosing what to evict, and evicting it. The plan is a pure function: the cache's blocks
 * (held, in the cache table) less the protected ones are the evictable bytes; while they are
 * over the budget, the least recently read go first. Eviction drops the chosen blocks from
 * the block store with its gc (which rewrites packs that became mostly dead: the disk space
 * of a block comes back when its pack is rewritten or cut), under the engine's content gate,
 * so no write can name a block while it goes.
 */
import type { PlacementHost } from './host.js';

export interface CacheBlock {
  readonly hash: Buffer;
  readonly key: string;
  /** Bytes it takes in the block store. */
  readonly stored: number;
  /** When it was last read (ms). */
  readonly atime: number;
}

export interface EvictionPlan {
  /** Evictable bytes held before eviction. */
  readonly usage: number;
  /** Protected bytes in the cache table (not counted against the budget). */
  readonly protectedBytes: number;
  readonly budget: number;
  readonly victims: readonly CacheBlock[];
  /** Evictable bytes left after the victims go. */
  readonly after: number;
}

export function planEviction(blocks: readonly CacheBlock[], isProtected: (key: string) => boolean, budget: number): EvictionPlan {
  const evictable: CacheBlock[] = [];
  let usage = 0;
  let protectedBytes = 0;
  for (const b of blocks) {
    if (isProtected(b.key)) {
      protectedBytes += b.stored;
      continue;
    }
    evictable.push(b);
    usage += b.stored;
  }
  const victims: CacheBlock[] = [];
  let after = usage;
  if (after > budget) {
    evictable.sort((a, b) => a.atime - b.atime || (a.key < b.key ? -1 : 1));
    for (const b of evictable) {
      if (after <= budget) break;
      victims.push(b);
      after -= b.stored;
    }
  }
  return { usage, protectedBytes, budget, victims, after };
}

/** Drops `victims` from the block store. Returns the disk bytes given back now. */
export async function evictBlocks(engine: PlacementHost, victims: readonly CacheBlock[]): Promise<{ freedBlocks: number; freedBytes: number }> {
  if (victims.length === 0) return { freedBlocks: 0, freedBytes: 0 };
  const keys = new Set(victims.map((v) => v.key));
  return engine.gate.exclusive(async () => {
    await engine.flush();
    const r = await engine.blocks.gc((hash) => !keys.has(Buffer.from(hash).toString('hex')));
    return { freedBlocks: r.freedBlocks, freedBytes: r.freedBytes };
  });
}
