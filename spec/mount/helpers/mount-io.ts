/**
 * What a test does through a mount served by another process: async reads with a timeout
 * (never a *Sync call on the mountpoint) and xattrs through python3 in a child process (Node
 * has no xattr calls).
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { readAt } from '../../../log/index.js';
import { run, within } from './proc.js';
import { PYTHON } from './sysops.js';

/** Bytes [offset, offset + length) of `rel` under the mountpoint. */
export function readRange(mp: string, rel: string, offset: number, length: number, ms = 10_000): Promise<Buffer> {
  return within(ms, `read ${rel}`, (async () => {
    const fh = await open(join(mp, rel), 'r');
    try {
      return await readAt(fh, offset, length);
    } finally {
      await fh.close();
    }
  })());
}

/** getxattr / setxattr of `rel`; on failure `value` is "ERR " and the errno's name. */
export async function xattr(mp: string, op: 'get' | 'set', rel: string, name: string, value?: string): Promise<{ ok: boolean; value: string }> {
  const script =
    op === 'get'
      ? 'import os,sys\ntry:\n print(os.getxattr(sys.argv[1], sys.argv[2]).decode())\nexcept OSError as e:\n import errno; print("ERR " + errno.errorcode[e.errno]); sys.exit(1)'
      : 'import os,sys\ntry:\n os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())\nexcept OSError as e:\n import errno; print("ERR " + errno.errorcode[e.errno]); sys.exit(1)';
  const r = await run(PYTHON, ['-c', script, join(mp, rel), name, ...(value === undefined ? [] : [value])], { timeoutMs: 15_000 });
  return { ok: r.code === 0, value: r.stdout.trim() };
}
