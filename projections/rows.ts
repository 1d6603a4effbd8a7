/**
 * The shapes of the projections' rows, apart from the projections that keep them, so the
 * codecs (row-codec.ts) and the listings (dir-listings.ts) read them without importing the
 * projections that import the codecs.
 */
import type { NodeId } from '../log/index.js';

export type NodeKind = 'file' | 'dir' | 'symlink';

export interface NodeRecord {
  readonly kind: NodeKind;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atime: number;
  readonly mtime: number;
  readonly ctime: number;
  readonly nlink: number;
  readonly area: string;
  /** Symlinks: the target. */
  readonly target?: string;
  /** Where the node hangs: a directory's one link, a file's first link (files may have more). */
  readonly parent?: NodeId;
  readonly name?: string;
}

/** What a stat shows of a node's record, read without decoding the rest (row-codec.ts readNodeStat). */
export interface NodeStatRow extends Pick<NodeRecord, 'kind' | 'mode' | 'uid' | 'gid' | 'atime' | 'mtime' | 'ctime' | 'nlink'> {
  /** A symlink's target's length in UTF-8 bytes (its size); 0 for the others. */
  readonly targetBytes: number;
}

export interface Dirent {
  readonly name: string;
  readonly id: NodeId;
  /** The node's kind, where the entry's row holds it (the current tree's; past listings name ids only). */
  readonly kind?: NodeKind;
}

/** A directory entry's row: the node the name takes, and its kind (row-codec.ts direntCodec). */
export interface DirentRow {
  readonly id: NodeId;
  readonly kind: NodeKind;
}

export interface ContentRow {
  readonly size: number;
  /** Block hashes, 32 bytes each, block i at [32 i, 32 i + 32). */
  readonly blocks: Uint8Array;
  /** The version this branch was last committed as (null before the first commit). */
  readonly version: Uint8Array | null;
  /** Write and truncate events not yet folded into a version. */
  readonly pending: number;
  /** How many commits the file has had (its history rows are numbered 0..commits-1). */
  readonly commits: number;
  /**
   * Where the last write or truncate came from, "N.INDEX[.SUB]" (N: the apply position of its
   * entry, whose feed and seq positions.ts holds): applying it again changes nothing.
   */
  readonly last?: string;
}

/** One commit of a file: which version it made, when, and how big. */
export interface HistoryRow {
  readonly version: Uint8Array;
  readonly size: number;
  readonly time: number;
}

export interface VersionRow {
  readonly size: number;
  readonly blocks: Uint8Array;
}
