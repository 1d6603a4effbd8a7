/** The one place where errors become POSIX errnos (negative, as fuse-native wants them). */
import Fuse from 'fuse-native';
import { EngineError, type EngineErrorCode } from '../engine/index.js';

const BY_CODE: Record<EngineErrorCode, number> = {
  NOT_FOUND: Fuse.ENOENT,
  EXISTS: Fuse.EEXIST,
  NOT_A_DIRECTORY: Fuse.ENOTDIR,
  IS_A_DIRECTORY: Fuse.EISDIR,
  NOT_EMPTY: Fuse.ENOTEMPTY,
  INVALID: Fuse.EINVAL,
  NAME_TOO_LONG: Fuse.ENAMETOOLONG,
  CROSS_AREA: Fuse.EXDEV,
  NOT_PERMITTED: Fuse.EPERM,
  NO_ATTRIBUTE: Fuse.ENODATA,
  TOO_BIG: Fuse.EFBIG,
  READ_ONLY: Fuse.EROFS,
  BAD_ARGUMENT: Fuse.EINVAL,
  NOT_A_STORE: Fuse.EIO,
  STORE_EXISTS: Fuse.EIO,
  STORE_LOCKED: Fuse.EBUSY,
  NO_IDENTITY: Fuse.EIO,
  IO: Fuse.EIO,
  NO_SPACE: Fuse.ENOSPC,
  BLOCK_MISSING: Fuse.EIO,
  BLOCK_CORRUPT: Fuse.EIO,
};

/** A negative errno for any error a handler meets. Unknown errors are EIO (and reported). */
export function errnoOf(err: unknown, report?: (err: unknown) => void): number {
  if (err instanceof EngineError) return BY_CODE[err.code] ?? Fuse.EIO;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'NO_SPACE' || code === 'ENOSPC') return Fuse.ENOSPC;
  if (code === 'INVALID_EVENT') return Fuse.EINVAL;
  if (code === 'NAME_TOO_LONG') return Fuse.ENAMETOOLONG;
  report?.(err);
  return Fuse.EIO;
}
