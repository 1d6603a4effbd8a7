/**
 * The mounts of `realize bench mount`: the Realize server and bindfs, each a CHILD process
 * (the bench process never serves a mount, and touches mounted paths only from children),
 * started with a timeout and always taken down: fusermount -u, then umount -l, then the
 * fusectl abort for a wedged connection, and the child killed. Every child still alive when
 * the bench process exits is killed and its mount cleared (process 'exit' hook), and each
 * runs under `setpriv --pdeathsig`, so it also ends if the bench process is killed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { access, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { have, run, sleep, vmHwmOf } from './proc-helpers.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const REALIZE = join(REPO, 'tools', 'bin', 'realize.js');

/** Children serving a mount, for the exit hook. */
const live = new Map<number, string>();
let hooked = false;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const [pid, mp] of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
      spawnSync('fusermount', ['-uz', mp], { timeout: 5000, stdio: 'ignore' });
      spawnSync('umount', ['-l', mp], { timeout: 5000, stdio: 'ignore' });
    }
  });
}

/** The mountinfo line of a mountpoint, if something is mounted there. */
export async function mountLine(mp: string): Promise<string | undefined> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').find((l) => l.split(' ')[4] === mp);
}

/** Clears whatever is mounted at `mp`, wedged or dead: fusermount -u, umount -l, fusectl abort. */
export async function forceUnmount(mp: string): Promise<boolean> {
  if (!(await mountLine(mp))) return true;
  await run('fusermount', ['-u', mp], { timeoutMs: 10_000 });
  if (!(await mountLine(mp))) return true;
  await run('umount', ['-l', mp], { timeoutMs: 10_000 });
  const line = await mountLine(mp);
  if (!line) return true;
  const minor = line.split(' ')[2]?.split(':')[1];
  if (minor !== undefined) {
    const conn = `/sys/fs/fuse/connections/${minor}`;
    if (!(await access(conn).then(() => true, () => false))) {
      await run('mount', ['-t', 'fusectl', 'fusectl', '/sys/fs/fuse/connections'], { timeoutMs: 10_000 });
    }
    await writeFile(`${conn}/abort`, '1').catch(() => undefined);
    await run('umount', ['-l', mp], { timeoutMs: 10_000 });
  }
  return (await mountLine(mp)) === undefined;
}

export interface Served {
  readonly name: string;
  readonly pid: number;
  readonly mountpoint: string;
  /** Options the mount was made with, for the notes. */
  readonly options: string;
  /** The child's stderr so far (the last 8 KiB). */
  stderr(): string;
  /** Peak RSS (VmHWM) since the start or the last resetPeak(), bytes. */
  peakRss(): Promise<number | null>;
  /** Resets the kernel's peak-RSS mark of the child (root: /proc/PID/clear_refs). */
  resetPeak(): Promise<boolean>;
  /** Unmounts and ends the child; true when nothing is left mounted. */
  stop(): Promise<boolean>;
}

function serve(name: string, child: ChildProcess, mountpoint: string, options: string): Served & { exited: Promise<void>; running(): boolean } {
  let err = '';
  let alive = true;
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-8192)));
  const exited = new Promise<void>((res) => child.on('exit', () => {
    alive = false;
    live.delete(child.pid!);
    res();
  }));
  hookExit();
  live.set(child.pid!, mountpoint);
  const pid = child.pid!;
  return {
    name,
    pid,
    mountpoint,
    options,
    exited,
    running: () => alive,
    stderr: () => err,
    peakRss: () => vmHwmOf(pid),
    async resetPeak() {
      try {
        await writeFile(`/proc/${pid}/clear_refs`, '5');
        return true;
      } catch {
        return false;
      }
    },
    async stop() {
      if (alive && (await mountLine(mountpoint))) await run('fusermount', ['-u', mountpoint], { timeoutMs: 30_000 });
      const ended = async (ms: number): Promise<boolean> => Promise.race([exited.then(() => true), sleep(ms).then(() => false)]);
      if (alive && !(await ended(30_000))) {
        child.kill('SIGTERM');
        if (!(await ended(10_000))) {
          child.kill('SIGKILL');
          await ended(10_000);
        }
      }
      return forceUnmount(mountpoint);
    },
  };
}

async function waitFor(what: string, cond: () => Promise<boolean>, s: { running(): boolean; stderr(): string; stop(): Promise<boolean> }, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (!s.running()) {
      await s.stop();
      throw new Error(`${what} exited before mounting:\n${s.stderr().trim()}`);
    }
    if (Date.now() > deadline) {
      await s.stop();
      throw new Error(`${what} did not mount within ${timeoutMs} ms:\n${s.stderr().trim()}`);
    }
    await sleep(25);
  }
}

/**
 * `node tools/bin/realize.js --store STORE --json mount MP` as a child; resolves once it
 * prints {"event":"mounted"}. The store is created by the server when missing.
 */
export async function startRealize(store: string, mp: string, timeoutMs = 60_000): Promise<Served> {
  const child = spawn('setpriv', ['--pdeathsig', 'SIGTERM', process.execPath, REALIZE, '--store', store, '--json', 'mount', mp], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: REPO,
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const s = serve('realize', child, mp, 'use_ino, hard_remove, default_permissions, big_writes, 1 MiB requests (max_pages), keep_cache decided per open, attr_timeout=1, entry_timeout=1 (the defaults of `realize mount`)');
  const mounted = async (): Promise<boolean> =>
    out.split('\n').some((l) => {
      if (!l.startsWith('{')) return false;
      try {
        return (JSON.parse(l) as { event?: string }).event === 'mounted';
      } catch {
        return false;
      }
    });
  await waitFor('realize mount', mounted, s, timeoutMs);
  return s;
}

/**
 * `bindfs -f [-o big_writes] SRC MP` as a child (foreground, so the bench owns its pid);
 * falls back to bindfs's defaults when it refuses big_writes. Resolves once MP is mounted.
 */
export async function startBindfs(src: string, mp: string, timeoutMs = 30_000): Promise<Served> {
  let lastErr: unknown;
  for (const opts of [['-o', 'big_writes'], []]) {
    const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', 'bindfs', '-f', ...opts, src, mp], { stdio: ['ignore', 'ignore', 'pipe'] });
    const s = serve('bindfs', child, mp, `bindfs -f ${opts.join(' ') || '(defaults)'}: single-threaded (bindfs's default), libfuse 2 defaults attr_timeout=1, entry_timeout=1, plus the default_permissions and allow_other bindfs adds`);
    try {
      await waitFor('bindfs', async () => (await mountLine(mp)) !== undefined, s, timeoutMs);
      return s;
    } catch (err) {
      lastErr = err;
    }
  }
  throw lastErr;
}

/** Whether the Debian package is installed (dpkg-query). */
async function installed(pkg: string): Promise<boolean> {
  const r = await run('dpkg-query', ['-W', '-f=${Status}', pkg], { timeoutMs: 30_000 });
  return r.code === 0 && r.stdout.includes('install ok installed');
}

/**
 * bindfs, installed with apt-get when it is missing (dpkg-query first; root only). Returns
 * null when it is there, else why it could not be had.
 */
export async function ensureBindfs(): Promise<string | null> {
  if (await have('bindfs')) return null;
  if (await installed('bindfs')) return 'bindfs is installed but not on PATH';
  if (process.getuid?.() !== 0) return 'bindfs is not installed (apt-get install bindfs, as root)';
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  let r = await run('apt-get', [...lock, 'install', '-y', '-qq', 'bindfs'], { timeoutMs: 600_000, env });
  if (r.code !== 0) {
    await run('apt-get', [...lock, 'update', '-qq'], { timeoutMs: 600_000, env });
    r = await run('apt-get', [...lock, 'install', '-y', '-qq', 'bindfs'], { timeoutMs: 600_000, env });
  }
  return r.code === 0 && (await have('bindfs')) ? null : `bindfs could not be installed: ${r.stderr.trim().split('\n').pop() ?? ''}`;
}

/** Whether this process can mount FUSE filesystems at all. */
export async function fuseUsable(): Promise<string | null> {
  if (!(await access('/dev/fuse').then(() => true, () => false))) return 'no /dev/fuse';
  if (!(await have('fusermount'))) return 'no fusermount (Debian package fuse)';
  return null;
}

// ---------------------------------------------------------------------------------------
// The workload scripts run by `node` in a child: plain JavaScript, fs/promises only.

/**
 * smallfiles.mjs ROOT COUNT SEED: makes COUNT files of 1-8 KiB of seeded, incompressible
 * content (built before the clock starts) in directories of 100 under ROOT, each with
 * open + write + close, one at a time; prints {"seconds":S,"bytes":B}.
 * stat.mjs ROOT COUNT: lstat of each of those files, one at a time; prints {"seconds":S}.
 */
export const SMALLFILES_SCRIPT = `
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
const [root, countArg, seed] = process.argv.slice(2);
const count = Number(countArg);
const key = createHash('sha256').update('realize-bench-mount:' + seed).digest();
const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
const sizes = cipher.update(Buffer.alloc(count * 2));
const files = [];
let bytes = 0;
for (let i = 0; i < count; i++) {
  const size = 1024 + (sizes.readUInt16LE(2 * i) % 7169);
  files.push(cipher.update(Buffer.alloc(size)));
  bytes += size;
}
const t0 = process.hrtime.bigint();
for (let d = 0; d * 100 < count; d++) await mkdir(root + '/d' + d, { recursive: true });
for (let i = 0; i < count; i++) {
  const fh = await open(root + '/d' + Math.floor(i / 100) + '/f' + i + '.dat', 'w');
  await fh.write(files[i], 0, files[i].length, 0);
  await fh.close();
}
console.log(JSON.stringify({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes }));
`;

export const STAT_SCRIPT = `
import { lstat } from 'node:fs/promises';
const [root, countArg] = process.argv.slice(2);
const count = Number(countArg);
const paths = [];
for (let i = 0; i < count; i++) paths.push(root + '/d' + Math.floor(i / 100) + '/f' + i + '.dat');
const t0 = process.hrtime.bigint();
let bytes = 0;
for (const p of paths) bytes += (await lstat(p)).size;
console.log(JSON.stringify({ seconds: Number(process.hrtime.bigint() - t0) / 1e9, bytes }));
`;
