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

/** Doubles per stat in the patched addon's arrays. */
export const STAT_DOUBLES = 16;

/** Milliseconds as (seconds, nanoseconds) at arr[at], arr[at + 1]. */
function packTime(arr: Float64Array, at: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  arr[at] = sec;
  arr[at + 1] = Math.min(999999999, Math.floor((ms - sec * 1000) * 1e6));
}

/**
 * toStat's attributes written straight into the addon's layout at arr[at..at + 16) (mode, uid,
 * gid, size, dev, nlink, ino, rdev, blksize, blocks, then atime, mtime and ctime as seconds and
 * nanoseconds; dev and rdev left 0): what fuse-native's getStatArray makes of toStat's object,
 * without the object nor an array per stat (a directory's attribute fill writes hundreds).
 */
export function packStat(arr: Float64Array, at: number, info: StatFields, size: number = info.size): void {
  arr[at] = typeBits(info.kind) | info.mode;
  arr[at + 1] = info.uid;
  arr[at + 2] = info.gid;
  arr[at + 3] = size;
  arr[at + 5] = info.nlink;
  arr[at + 6] = info.ino;
  arr[at + 8] = 4096;
  arr[at + 9] = Math.ceil(size / 512);
  packTime(arr, at + 10, info.atime);
  packTime(arr, at + 12, info.mtime);
  packTime(arr, at + 14, info.ctime);
}
