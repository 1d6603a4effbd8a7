/** Small assertions shared by the mount tests. */
import { lstat } from 'node:fs/promises';
import type { Test } from 'tap';
import type { SysResult } from './sysops.js';

type T = Test;

/** Asserts that the promise rejects with the errno code. */
export async function rejectsCode(t: T, p: Promise<unknown>, code: string, what: string): Promise<void> {
  try {
    await p;
    t.fail(`${what}: expected ${code}, it succeeded`);
  } catch (err) {
    t.equal((err as NodeJS.ErrnoException).code, code, `${what} -> ${code}`);
  }
}

/** Asserts a child's system call result: an errno name, or success (null). */
export function sysIs(t: T, r: SysResult, code: string | null, what: string): void {
  if (code === null) t.equal(r.err, undefined, `${what} succeeds`);
  else t.equal(r.err ?? 'success', code, `${what} -> ${code}`);
}

/** Times and size of a path in ns (lstat, bigint). */
export async function times(path: string): Promise<{ atime: bigint; mtime: bigint; ctime: bigint; size: bigint; nlink: bigint; mode: bigint; ino: bigint }> {
  const s = await lstat(path, { bigint: true });
  return { atime: s.atimeNs, mtime: s.mtimeNs, ctime: s.ctimeNs, size: s.size, nlink: s.nlink, mode: s.mode, ino: s.ino };
}

export const OLD_S = 1_000_000_000; // 2001-09-09, a time no operation here sets by itself
export const OLD_NS = BigInt(OLD_S) * 1_000_000_000n;

/** Now, in ns, with the slack a ms-precision store and a stat round trip need. */
export function recentNs(ns: bigint, slackMs = 10_000): boolean {
  const now = BigInt(Date.now()) * 1_000_000n;
  const slack = BigInt(slackMs) * 1_000_000n;
  return ns > now - slack && ns <= now + 1_000_000_000n;
}
