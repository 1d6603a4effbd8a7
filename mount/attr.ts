/** Node metadata as the kernel wants it. */
import type Fuse from 'fuse-native';
import type { NodeInfo } from '../engine/index.js';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

export function toStat(info: NodeInfo, size: number = info.size): Fuse.Stat {
  const type = info.kind === 'dir' ? S_IFDIR : info.kind === 'symlink' ? S_IFLNK : S_IFREG;
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
