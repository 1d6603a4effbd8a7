/** What stat shows of a node: its tree record, its inode number, and its content's size and version. */
import type { NodeId } from '../log/index.js';
import type { ContentRow, NodeKind, NodeRecord } from '../projections/index.js';

export interface NodeInfo {
  readonly id: NodeId;
  readonly ino: number;
  readonly gen: number;
  readonly kind: NodeKind;
  /** Permission bits only (07777); the kind says the file type. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly atime: number;
  readonly mtime: number;
  readonly ctime: number;
  readonly nlink: number;
  readonly area: string;
  readonly target?: string;
  /** The last committed content version (files). */
  readonly version: Uint8Array | null;
  /** Write and truncate events not yet folded into a version. */
  readonly pending: number;
}

export function nodeInfo(id: NodeId, ino: { ino: number; gen: number }, node: NodeRecord, content: ContentRow | undefined): NodeInfo {
  const size = node.kind === 'symlink' ? Buffer.byteLength(node.target ?? '') : node.kind === 'dir' ? 4096 : content?.size ?? 0;
  return {
    id,
    ino: ino.ino,
    gen: ino.gen,
    kind: node.kind,
    mode: node.mode,
    uid: node.uid,
    gid: node.gid,
    size,
    atime: node.atime,
    mtime: node.mtime,
    ctime: node.ctime,
    nlink: node.nlink,
    area: node.area,
    ...(node.target !== undefined ? { target: node.target } : {}),
    version: content?.version ?? null,
    pending: content?.pending ?? 0,
  };
}
