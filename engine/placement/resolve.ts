/**
 * Which placement a node has for a peer: its own mark, else the mark of its nearest marked
 * ancestor (a file hangs under its first link's directory), else the default.
 *
 * The default for an area without marks is Real: content that nobody asked to be Unreal
 * stays complete on every peer, as it did before placement existed, and nothing is ever
 * evicted that the user did not choose to make evictable.
 */
import type { NodeId, Placement } from '../../log/index.js';
import type { ProjectionSet } from '../../projections/index.js';

export const DEFAULT_PLACEMENT: Placement = 'real';

export interface Resolution {
  readonly placement: Placement;
  /** The node whose mark decides (the node itself, or an ancestor); null for the default. */
  readonly from: NodeId | null;
}

const MAX_DEPTH = 100_000;

/** The placement of node `id` for `peer`. */
export function placementOf(p: ProjectionSet, peer: string, id: NodeId): Resolution {
  let cur: NodeId | undefined = id;
  for (let depth = 0; cur !== undefined && depth < MAX_DEPTH; depth++) {
    const mark = p.placements.mark(peer, cur);
    if (mark !== undefined) return { placement: mark, from: cur };
    cur = p.tree.node(cur)?.parent;
  }
  return { placement: DEFAULT_PLACEMENT, from: null };
}

/**
 * Resolves many nodes in one pass (eviction planning, status of a directory): directories'
 * answers are remembered, so each directory is looked up once per peer.
 */
export class PlacementResolver {
  readonly #p: ProjectionSet;
  readonly #dirs = new Map<string, Resolution>();

  constructor(p: ProjectionSet) {
    this.#p = p;
  }

  of(peer: string, id: NodeId): Resolution {
    const mark = this.#p.placements.mark(peer, id);
    if (mark !== undefined) return { placement: mark, from: id };
    const parent = this.#p.tree.node(id)?.parent;
    return parent === undefined ? { placement: DEFAULT_PLACEMENT, from: null } : this.#dir(peer, parent);
  }

  #dir(peer: string, dir: NodeId): Resolution {
    const chain: NodeId[] = [];
    let cur: NodeId | undefined = dir;
    let found: Resolution = { placement: DEFAULT_PLACEMENT, from: null };
    for (let depth = 0; cur !== undefined && depth < MAX_DEPTH; depth++) {
      const known = this.#dirs.get(`${peer}/${cur}`);
      if (known !== undefined) {
        found = known;
        break;
      }
      const mark = this.#p.placements.mark(peer, cur);
      if (mark !== undefined) {
        found = { placement: mark, from: cur };
        chain.push(cur);
        break;
      }
      chain.push(cur);
      cur = this.#p.tree.node(cur)?.parent;
    }
    for (const c of chain) this.#dirs.set(`${peer}/${c}`, found);
    return found;
  }
}
