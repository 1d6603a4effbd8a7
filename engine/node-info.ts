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

/** What a stat shows of a node (NodeInfo has these; so does a fill's lighter read, Snapshot.statFields). */
export type StatFields = Pick<NodeInfo, 'kind' | 'mode' | 'uid' | 'gid' | 'size' | 'nlink' | 'ino' | 'atime' | 'mtime' | 'ctime'>;

/** NodeInfo's fields but `version`, writable while the constructor sets them (merged into Info). */
type InfoFields = { -readonly [K in Exclude<keyof NodeInfo, 'version'>]: NodeInfo[K] };
interface Info extends InfoFields {}

/**
 * A node's attributes as stat shows them. A class with `version` read from the branch when asked
 * for: a committed branch's version is a hash made on first use (row-codec.ts), and getattr,
 * listings and the mount's attribute fills never ask. (A getter in an object literal instead cost
 * over a microsecond a node.) A spread of it leaves `version` out.
 */
class Info implements NodeInfo {
  readonly #content: ContentRow | undefined;

  constructor(id: NodeId, ino: { ino: number; gen: number }, node: NodeRecord, content: ContentRow | undefined) {
    this.id = id;
    this.ino = ino.ino;
    this.gen = ino.gen;
    this.kind = node.kind;
    this.mode = node.mode;
    this.uid = node.uid;
    this.gid = node.gid;
    this.size = node.kind === 'symlink' ? Buffer.byteLength(node.target ?? '') : node.kind === 'dir' ? 4096 : content?.size ?? 0;
    this.atime = node.atime;
    this.mtime = node.mtime;
    this.ctime = node.ctime;
    this.nlink = node.nlink;
    this.area = node.area;
    if (node.target !== undefined) this.target = node.target;
    this.pending = content?.pending ?? 0;
    this.#content = content;
  }

  get version(): Uint8Array | null {
    return this.#content?.version ?? null;
  }
}

export function nodeInfo(id: NodeId, ino: { ino: number; gen: number }, node: NodeRecord, content: ContentRow | undefined): NodeInfo {
  return new Info(id, ino, node, content);
}
