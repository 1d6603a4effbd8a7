/**
 * `realize status PATH`: the placement of a path for this peer (its own mark, or inherited
 * from which ancestor, or the default), how much of its content is here (all, part, none),
 * and which of its files cannot be read now and why. Computed from the projections and the
 * block index, so it works read-only beside a running mount or serve, and shows the
 * progress of a Real download as the blocks arrive.
 */
import type { NodeId, Placement } from '../../log/index.js';
import type { PlacementHost } from './host.js';
import { readLive } from '../sync/sync-state.js';
import { followersOf, viewFromStore, type PeerView } from './peer-view.js';
import { filesUnder, rowPresence, sumPresence, type ContentPresence } from './presence.js';
import { PlacementResolver } from './resolve.js';
import { readUnavailable, type UnavailableFile } from './unavailable.js';
import { processAlive } from '../store-lock.js';

export interface FileProblem {
  readonly path: string;
  readonly id: NodeId;
  readonly presence: ContentPresence;
  readonly reason: string;
}

export interface PathStatus {
  readonly path: string;
  readonly id: NodeId;
  readonly kind: string;
  readonly placement: Placement;
  /** The path whose mark decides (this path when it has its own), or null for the default. */
  readonly markedAt: string | null;
  readonly explicit: boolean;
  readonly files: number;
  readonly presence: ContentPresence;
  /** Files whose content is not all here and cannot be fetched now. */
  readonly unavailable: readonly FileProblem[];
  /** Whether a process that fetches content (serve, or mount with peers) runs, and which peers it has. */
  readonly serving: boolean;
  readonly connected: readonly string[];
}

/** The path of node `id` at the head (null when it has no name any more). */
export function pathOf(engine: PlacementHost, id: NodeId): string | null {
  const tree = engine.projections.tree;
  const parts: string[] = [];
  let cur: NodeId | undefined = id;
  for (let depth = 0; depth < 4096 && cur !== undefined; depth++) {
    const node = tree.node(cur);
    if (node === undefined || node.nlink === 0) return null;
    if (node.parent === undefined) return `/${[node.area, ...parts.reverse()].join('/')}`;
    if (node.name === undefined) return null;
    parts.push(node.name);
    cur = node.parent;
  }
  return null;
}

export interface StatusContext {
  readonly view: PeerView;
  readonly unavailable: UnavailableFile;
  /** null: nothing is running that could fetch; else the peers connected. */
  readonly connected: readonly string[] | null;
}

export async function statusContext(engine: PlacementHost): Promise<StatusContext> {
  const root = engine.store.layout.root;
  const live = await readLive(root).catch(() => null);
  const running = live !== null && live.pid > 0 && (live.pid === process.pid || processAlive(live.pid));
  const connected = running ? Object.entries(live.peers).filter(([, p]) => p.connected).map(([k]) => k) : null;
  return { view: await viewFromStore(engine), unavailable: await readUnavailable(root), connected };
}

export function pathStatus(engine: PlacementHost, path: string, ctx: StatusContext, opts: { limit?: number } = {}): PathStatus {
  const p = engine.projections;
  const self = engine.store.publicKey;
  const info = engine.stat(path);
  const resolver = new PlacementResolver(p);
  const own = resolver.of(self, info.id);
  const files = [...filesUnder((dir) => p.tree.children(dir), (id) => p.tree.node(id)?.kind, info.id)];
  const presences: ContentPresence[] = [];
  const unavailable: FileProblem[] = [];
  const limit = opts.limit ?? Number.POSITIVE_INFINITY;
  for (const id of files) {
    const presence = rowPresence(p.content.row(id), engine.blocks);
    presences.push(presence);
    if (presence.presence === 'all' || unavailable.length >= limit) continue;
    const reason = whyUnavailable(engine, id, ctx, resolver);
    if (reason !== null) unavailable.push({ path: pathOf(engine, id) ?? id, id, presence, reason });
  }
  return {
    path,
    id: info.id,
    kind: info.kind,
    placement: own.placement,
    markedAt: own.from === null ? null : pathOf(engine, own.from),
    explicit: own.from === info.id,
    files: files.length,
    presence: sumPresence(presences),
    unavailable,
    serving: ctx.connected !== null,
    connected: ctx.connected ?? [],
  };
}

/** Why a file whose content is not all here cannot be read now; null when it can be fetched. */
function whyUnavailable(engine: PlacementHost, id: NodeId, ctx: StatusContext, resolver: PlacementResolver): string | null {
  const failed = ctx.unavailable[id];
  const area = engine.projections.tree.node(id)?.area ?? '';
  const keepers = followersOf(ctx.view, area).filter((peer) => resolver.of(peer, id).placement === 'real');
  if (ctx.connected === null) return 'not all here, and no realize serve or mount with peers is running to fetch it';
  if (ctx.connected.length === 0) return 'not all here, and no peer is connected';
  if (failed !== undefined) return `not all here; a read failed at ${new Date(failed.at).toISOString()}: ${failed.reason}`;
  if (keepers.length > 0 && !keepers.some((k) => ctx.connected!.includes(k))) return 'not all here, and no peer that keeps it Real is connected';
  return null;
}
