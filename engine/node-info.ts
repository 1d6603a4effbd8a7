/** What stat shows of a node: its tree record, its inode number, and its content's size and version. */
import type { NodeId } from '../log/index.js';
import type { ContentRow, NodeRecord } from '../projections/index.js';

/** The tree record's attributes (mode: permission bits only, 07777; the kind says the file type), and: */
export interface NodeInfo extends Pick<NodeRecord, 'kind' | 'mode' | 'uid' | 'gid' | 'atime' | 'mtime' | 'ctime' | 'nlink' | 'area' | 'target'> {
  readonly id: NodeId;
  readonly ino: number;
  readonly gen: number;
  readonly size: number;
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
