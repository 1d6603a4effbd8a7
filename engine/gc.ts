/**
 * `realize gc`: space comes back. Retention is a query, not a change to the projections (so
 * a rebuild still equals them). By default every state of every file is kept, so time
 * travel can read all of it, and gc frees only blocks nothing ever named (stored by writes
 * that failed, or superseded inside one flush). `keepDays` keeps the versions committed in
 * the last N days (and deleted files' content deleted within them); `keepVersions` the last
 * N versions of each file; a live file's current content is always kept. Time travel to a
 * state whose blocks a retention gc freed reports the missing blocks.
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
  const { content, tree } = engine.projections;
  const keepAll = retention.keepDays === undefined && retention.keepVersions === undefined;
  const cutoff = retention.keepDays === undefined ? -Infinity : engine.env.now() - retention.keepDays * 86_400_000;
  for (const [id, row] of content.rows()) {
    const node = tree.node(id);
    const deleted = node === undefined || node.nlink === 0;
    if (keepAll) {
      // Every state the file ever had stays readable by time travel.
      add(row.blocks);
      for (const c of content.rowChanges(id)) if (c.value) add(c.value.blocks);
      continue;
    }
    // The current content of a live file always stays; a deleted file's only within the window.
    if (!deleted || (node !== undefined && node.ctime >= cutoff)) add(row.blocks);
    const history = [...content.history(id)];
    history.forEach((h, i) => {
      const newest = i === history.length - 1 && !deleted;
      const byCount = retention.keepVersions === undefined || history.length - i <= retention.keepVersions;
      const byAge = h.time >= cutoff;
      if ((newest || (byCount && byAge)) && h.blocks !== undefined) add(h.blocks);
    });
  }
  return live;
}

export async function collectGarbage(engine: Engine, retention: Retention = {}): Promise<GcResult> {
  return engine.gate.exclusive(async () => {
    await engine.flush();
    const live = liveBlocks(engine, retention);
    const r = await engine.blocks.gc((hash) => live.has(Buffer.from(hash).toString('hex')));
    return { liveBlocks: live.size, ...r };
  });
}
