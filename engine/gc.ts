/**
 * `realize gc`: space comes back. A block is live when the current branch of any file
 * names it, or a version inside the retention window does. Retention is a query, not a
 * change to the projections (so a rebuild still equals them): by default every version is
 * kept; `keepDays` keeps versions committed in the last N days, `keepVersions` the last N
 * of each file; a file's latest version is always kept.
 */
import { splitBlocks } from '../projections/index.js';
import type { Engine } from './engine.js';

export interface Retention {
  readonly keepDays?: number;
  readonly keepVersions?: number;
}

export interface GcResult {
  readonly liveBlocks: number;
  readonly freedBlocks: number;
  readonly freedBytes: number;
  readonly packsRewritten: number;
}

export function liveBlocks(engine: Engine, retention: Retention = {}): Set<string> {
  const live = new Set<string>();
  const add = (blocks: Uint8Array): void => {
    for (const b of splitBlocks(blocks)) live.add(Buffer.from(b).toString('hex'));
  };
  const content = engine.projections.content;
  const cutoff = retention.keepDays === undefined ? -Infinity : engine.env.now() - retention.keepDays * 86_400_000;
  for (const [id, row] of content.rows()) {
    add(row.blocks);
    const history = [...content.history(id)];
    history.forEach((h, i) => {
      const newest = i === history.length - 1;
      const byCount = retention.keepVersions === undefined || history.length - i <= retention.keepVersions;
      const byAge = h.time >= cutoff;
      if (newest || (byCount && byAge)) {
        const v = content.version(h.version);
        if (v) add(v.blocks);
      }
    });
  }
  return live;
}

export async function collectGarbage(engine: Engine, retention: Retention = {}): Promise<GcResult> {
  await engine.flush();
  const live = liveBlocks(engine, retention);
  const r = await engine.blocks.gc((hash) => live.has(Buffer.from(hash).toString('hex')));
  return { liveBlocks: live.size, ...r };
}
