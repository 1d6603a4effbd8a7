/**
 * What placement needs of the engine that hosts it: the store, its projections and blocks,
 * the content gate, and a few commands. The engine is such a host; placement names only this
 * shape, so engine/placement/ depends on the engine's parts, never on engine.ts.
 */
import type { Entry, FsEvent, NodeId, Placement } from '../../log/index.js';
import type { ProjectionSet } from '../../projections/index.js';
import type { BlockStore } from '../block-store.js';
import type { ContentGate } from '../content-gate.js';
import type { NodeInfo } from '../node-info.js';
import type { Store, StoreEnv } from '../store.js';

export interface PlacementHost {
  readonly store: Store;
  readonly projections: ProjectionSet;
  readonly blocks: BlockStore;
  readonly env: StoreEnv;
  readonly gate: ContentGate;
  readonly readOnly: boolean;
  /** The engine's placement service, told of a mark made here (service.ts). */
  readonly placement: { marked(id: NodeId, placement: Placement): void } | null;
  stat(path: string): NodeInfo;
  flush(): Promise<void>;
  appendEvents(area: string, events: readonly FsEvent[]): Promise<Entry>;
}
