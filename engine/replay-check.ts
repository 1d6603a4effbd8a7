/**
 * `realize log replay --check`: rebuild every projection from the log into a scratch LMDB
 * environment and compare its digest with the live one. Rebuild must equal incremental.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rebuild, ProjectionSet, type ReplayProgress } from '../projections/index.js';
import type { Engine } from './engine.js';

export interface ProjectionComparison {
  readonly name: string;
  readonly live: string;
  readonly rebuilt: string;
  readonly same: boolean;
}

export interface ReplayCheck {
  readonly entries: number;
  readonly seconds: number;
  readonly projections: readonly ProjectionComparison[];
  readonly ok: boolean;
}

export async function replayCheck(engine: Engine, opts: { scratch?: string; onProgress?: (p: ReplayProgress) => void } = {}): Promise<ReplayCheck> {
  const dir = opts.scratch ?? (await mkdtemp(join(tmpdir(), 'realize-check-')));
  const scratch = ProjectionSet.open(dir, { scratch: true });
  try {
    const started = performance.now();
    // A scratch place nothing will rewind: no undo records (projections/undo-log.ts).
    const entries = await rebuild(scratch, engine.store.feeds, opts.onProgress, { undo: false });
    const seconds = (performance.now() - started) / 1000;
    const live = new Map(engine.projections.digests().map((d) => [d.name, d.digest]));
    const projections = scratch.digests().map((d) => ({ name: d.name, live: live.get(d.name) ?? '', rebuilt: d.digest, same: live.get(d.name) === d.digest }));
    return { entries, seconds, projections, ok: projections.every((p) => p.same) };
  } finally {
    await scratch.close();
    if (opts.scratch === undefined) await rm(dir, { recursive: true, force: true });
  }
}
