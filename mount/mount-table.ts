/** What /proc says about mounts, and clearing a stale FUSE mount (its server died). */
import { execFile } from 'node:child_process';
import { readFile, statfs } from 'node:fs/promises';
import { resolve } from 'node:path';

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** FUSE mounts listed in /proc/self/mountinfo, by mountpoint. */
export async function fuseMounts(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fstype = right.split(' ')[0] ?? '';
    if (!fstype.startsWith('fuse')) continue;
    const mp = left.split(' ')[4];
    if (mp) out.add(unescapeMount(mp));
  }
  return out;
}

export async function isFuseMounted(mountpoint: string): Promise<boolean> {
  return (await fuseMounts()).has(resolve(mountpoint));
}

export function run(cmd: string, args: readonly string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((res) => {
    execFile(cmd, [...args], { timeout: 10_000 }, (err, _stdout, stderr) => {
      res({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr: String(stderr).trim() });
    });
  });
}

/** fusermount -u, falling back to a lazy unmount. */
export async function unmountPath(mountpoint: string, lazy = false): Promise<void> {
  const r = await run('fusermount', lazy ? ['-uz', mountpoint] : ['-u', mountpoint]);
  if (r.code === 0) return;
  const l = await run('umount', lazy ? ['-l', mountpoint] : [mountpoint]);
  if (l.code !== 0) throw new Error(`cannot unmount ${mountpoint}: ${r.stderr || l.stderr}`);
}

/**
 * When a FUSE mount sits at `mountpoint`: alive (another process serves it) or stale (its
 * server is gone: the kernel answers ENOTCONN, or nothing answers at all).
 */
export async function probeMount(mountpoint: string, timeoutMs = 2000): Promise<'none' | 'alive' | 'stale'> {
  if (!(await isFuseMounted(mountpoint))) return 'none';
  // statfs always reaches the server; stat may be answered from the kernel's attribute cache
  // long after the server died.
  const probe = statfs(mountpoint).then(
    () => 'alive' as const,
    (err: NodeJS.ErrnoException) => (err.code === 'ENOTCONN' ? ('stale' as const) : ('alive' as const)),
  );
  const timeout = new Promise<'stale'>((r) => setTimeout(() => r('stale'), timeoutMs).unref());
  return Promise.race([probe, timeout]);
}
