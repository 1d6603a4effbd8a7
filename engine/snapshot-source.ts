/**
 * Where a snapshot reads the tree from: the live projections (the head), or their history
 * rows as of a past position. Both answer the same questions, so one Snapshot serves both.
 */
import type { NodeId } from '../log/index.js';
import type { ContentRow, Dirent, InodeRow, NodeRecord, ProjectionSet } from '../projections/index.js';
import type { StatFields } from './node-info.js';

export interface SnapshotSource {
  /** The apply position this source stands at. */
  readonly position: number;
  node(id: NodeId): NodeRecord | undefined;
  child(parent: NodeId, name: string): NodeId | undefined;
  children(parent: NodeId): Iterable<Dirent>;
  areaRoot(area: string): NodeId | undefined;
  areas(): Iterable<{ area: string; root: NodeId }>;
  inode(id: NodeId): InodeRow | undefined;
  content(id: NodeId): ContentRow | undefined;
  xattr(id: NodeId, name: string): Uint8Array | undefined;
  xattrNames(id: NodeId): string[];
  /** What a stat shows of a node, read without decoding its rows whole; undefined: read them (node, inode, content). */
  statFields?(id: NodeId): StatFields | undefined;
}

export function headSource(p: ProjectionSet): SnapshotSource {
  return {
    get position() {
      return p.head;
    },
    node: (id) => p.tree.node(id),
    child: (parent, name) => p.tree.child(parent, name),
    children: (parent) => p.tree.children(parent),
    areaRoot: (area) => p.tree.areaRoot(area),
    areas: () => p.tree.areas(),
    inode: (id) => p.inodes.inoOf(id),
    content: (id) => p.content.row(id),
    xattr: (id, name) => p.xattrs.get(id, name),
    xattrNames: (id) => p.xattrs.list(id),
    statFields: (id) => {
      // Rows held in memory are read whole (their stored bytes would settle them first).
      if (p.held.size > 0) return undefined;
      const ino = p.inodes.inoOf(id);
      const n = ino === undefined ? undefined : p.tree.nodeStat(id);
      if (n === undefined) return undefined;
      const size = n.kind === 'file' ? p.content.sizeOf(id) : n.kind === 'dir' ? 4096 : n.targetBytes;
      if (size === undefined) return undefined;
      return { kind: n.kind, mode: n.mode, uid: n.uid, gid: n.gid, size, nlink: n.nlink, ino: ino!.ino, atime: n.atime, mtime: n.mtime, ctime: n.ctime };
    },
  };
}

export function pastSource(p: ProjectionSet, n: number): SnapshotSource {
  return {
    position: n,
    node: (id) => p.tree.nodeAt(id, n),
    child: (parent, name) => p.tree.childAt(parent, name, n),
    children: (parent) => p.tree.childrenAt(parent, n),
    areaRoot: (area) => p.tree.areaRootAt(area, n),
    areas: () => p.tree.areasAt(n),
    inode: (id) => p.inodes.inoOf(id),
    content: (id) => p.content.rowAt(id, n),
    xattr: (id, name) => p.xattrs.getAt(id, name, n),
    xattrNames: (id) => p.xattrs.listAt(id, n),
  };
}
