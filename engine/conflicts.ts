/** `realize conflicts`: the conflict copies in the tree, with what each was split from. */
import type { NodeId } from '../log/index.js';
import type { Engine } from './engine.js';
import { pathAt } from './history.js';

export interface ConflictInfo {
  readonly id: NodeId;
  readonly path: string | null;
  readonly of: NodeId;
  readonly ofPath: string | null;
  /** The feed whose concurrent change went to the copy. */
  readonly feed: string;
  readonly time: number;
}

export function listConflicts(engine: Engine): ConflictInfo[] {
  const head = engine.projections.head;
  const out: ConflictInfo[] = [];
  for (const [id, row] of engine.projections.conflicts.list()) {
    out.push({ id, path: pathAt(engine, id, head), of: row.of, ofPath: pathAt(engine, row.of, head), feed: row.feed, time: row.time });
  }
  return out.filter((c) => c.path !== null).sort((a, b) => a.time - b.time);
}
