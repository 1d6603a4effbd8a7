/**
 * What a replay reads: the tree, content and famfs extents as one position of the log holds
 * them, and the bytes of files (for --into). Today only the head (the live projections,
 * caught up with the log when the engine opened); a past position ("--at POSITION") plugs in
 * here as another ShadowSource once projections can be read as of a position.
 */
import type { Extent, NodeId } from '../../log/index.js';
import type { ContentRow, Dirent, NodeRecord, ProjectionSet } from '../../projections/index.js';
import { EngineError } from '../engine-error.js';
import type { Engine } from '../engine.js';
import { FamfsIo } from '../famfs/io.js';

export interface ShadowSource {
  /** Names the position, for the shadow's state file: "head", or what --at said. */
  readonly at: string;
  /** Per feed, how many entries this position holds and the hash of the last (hex). */
  feedPositions(): Record<string, { length: number; hash: string }>;
  areas(): Iterable<{ area: string; root: NodeId }>;
  node(id: NodeId): NodeRecord | undefined;
  children(parent: NodeId): Iterable<Dirent>;
  content(id: NodeId): ContentRow | undefined;
  extents(id: NodeId): readonly Extent[] | undefined;
  /** Bytes of a file's content at this position. */
  read(id: NodeId, offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** The one position spelling accepted today. */
export const HEAD = 'head';

/** The head of a ProjectionSet as a source; `read` supplies file bytes (--into). */
export function projectionSource(p: ProjectionSet, read: ShadowSource['read'] = async () => Buffer.alloc(0), close: () => Promise<void> = async () => undefined): ShadowSource {
  return {
    at: HEAD,
    feedPositions() {
      const out: Record<string, { length: number; hash: string }> = {};
      for (const [feed, pos] of [...p.checkpoint.all()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        out[feed] = { length: pos.length, hash: Buffer.from(pos.hash).toString('hex') };
      }
      return out;
    },
    areas: () => p.tree.areas(),
    node: (id) => p.tree.node(id),
    children: (parent) => p.tree.children(parent),
    content: (id) => p.content.row(id),
    extents: (id) => p.famfs.extents(id),
    read,
    close,
  };
}

/** A source standing at `at` (default: the head). Anything but "head" is refused clearly. */
export function shadowSource(engine: Engine, at: string = HEAD): ShadowSource {
  if (at !== HEAD) {
    throw new EngineError('BAD_ARGUMENT', `cannot replay at ${JSON.stringify(at)}: only the head can be replayed so far (--at head, or leave --at out)`);
  }
  const io = new FamfsIo(engine);
  return projectionSource(
    engine.projections,
    (id, offset, length) => (io.isFamfs(id) ? io.read(id, offset, length) : engine.read(id, offset, length)),
    () => io.close(),
  );
}
