/** Node metadata as the kernel wants it. */
import type Fuse from 'fuse-native';
import type { NodeInfo, StatFields } from '../engine/index.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

const typeBits = (kind: NodeInfo['kind']): number => (kind === 'dir' ? S_IFDIR : kind === 'symlink' ? S_IFLNK : S_IFREG);

/**
 * The st_mode of a listing's entry: its type bits only. libfuse 2 passes the kernel only the
 * inode number and the type (d_ino, d_type) of each entry, so nothing else is read.
 */
export function listingMode(kind: NodeInfo['kind']): number {
  return typeBits(kind);
}

/** What toStat reads of a node (a NodeInfo, or a spread of one: it leaves out `version`). */
export type { StatFields };

export function toStat(info: StatFields, size: number = info.size): Fuse.Stat {
  const type = typeBits(info.kind);
  return {
    mode: type | info.mode,
    uid: info.uid,
    gid: info.gid,
    size,
    nlink: info.nlink,
    ino: info.ino,
    blksize: 4096,
    blocks: Math.ceil(size / 512),
    atime: info.atime,
    mtime: info.mtime,
    ctime: info.ctime,
  };
}
