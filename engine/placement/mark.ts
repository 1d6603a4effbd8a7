/**
 * Marking a path Real or Unreal: a `placement` event in this peer's own feed of the path's
 * area (peer = this peer's key). It replicates like every event, but only this peer's
 * placement reads it (projections/placement.ts keys marks by peer). Marking a directory sets
 * the placement of everything below it that has no mark of its own, now and later.
 */
import type { NodeId, Placement, PlacementMark } from '../../log/index.js';
import { ROOT_ID } from '../../projections/index.js';
import type { PlacementHost } from './host.js';
import { EngineError } from '../engine-error.js';

export function parsePlacement(value: string): Placement {
  const v = value.trim().toLowerCase();
  if (v === 'real' || v === 'unreal') return v;
  throw new EngineError('INVALID', `a placement is "real" or "unreal", not ${JSON.stringify(value)}`);
}

export interface MarkResult {
  readonly id: NodeId;
  readonly placement: Placement;
  /** False when the node already had this very mark (nothing was appended). */
  readonly changed: boolean;
}

/** Marks node `id` (by id: the mount may hold a file whose path changed). */
export async function markNode(engine: PlacementHost, id: NodeId, placement: Placement): Promise<MarkResult> {
  if (engine.readOnly) throw new EngineError('READ_ONLY', 'the store is open read-only');
  if (id === ROOT_ID) throw new EngineError('INVALID', 'the root of the store is not in an area: mark an area (e.g. /home) instead');
  const node = engine.projections.tree.node(id);
  if (node === undefined || node.nlink === 0) throw new EngineError('NOT_FOUND', `no such node: ${id}`);
  const self = engine.store.publicKey;
  if (engine.projections.placements.mark(self, id) === placement) return { id, placement, changed: false };
  const event: PlacementMark = { type: 'placement', id, peer: self, placement, time: engine.env.now() };
  await engine.appendEvents(node.area, [event]);
  engine.placement?.marked(id, placement);
  return { id, placement, changed: true };
}

/** Marks the node at `path` (symlinks are not followed). */
export async function markPath(engine: PlacementHost, path: string, placement: Placement): Promise<MarkResult> {
  return markNode(engine, engine.stat(path).id, placement);
}
