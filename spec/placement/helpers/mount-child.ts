/**
 * `realize mount` of a store in a child process (with peers in its household, the mount
 * syncs with them), and what a test does through it: async fs calls with timeouts, never a
 * *Sync call on the mountpoint, and xattrs through python3 in a child process. stop() always
 * clears the mount (SIGTERM, fusermount -u, umount -l, SIGKILL); it also runs at exit.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const REALIZE = join(REPO, 'tools', 'bin', 'realize.js');

const live = new Set<MountChild>();
process.on('exit', () => {
  for (const m of live) {
    try {
      m.child.kill('SIGKILL');
    } catch {
      // gone
    }
    spawnSync('fusermount', ['-u', m.mountpoint], { timeout: 5000, stdio: 'ignore' });
    spawnSync('umount', ['-l', m.mountpoint], { timeout: 5000, stdio: 'ignore' });
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]);
}

async function mounted(mp: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === mp);
}

export function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL', cwd: REPO });
    let stdout = '';
    let stderr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', (err) => res({ code: -1, stdout, stderr: String(err) }));
    c.on('close', (code) => res({ code, stdout, stderr }));
  });
}

export class MountChild {
  readonly child: ChildProcess;
  readonly mountpoint: string;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  #running = true;

  private constructor(child: ChildProcess, mountpoint: string) {
    this.child = child;
    this.mountpoint = mountpoint;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((res) =>
      child.on('exit', (code) => {
        this.#running = false;
        live.delete(this);
        res(code);
      }),
    );
  }

  static async start(store: string, mountpoint: string, timeoutMs = 30_000): Promise<MountChild> {
    const child = spawn(process.execPath, [REALIZE, '--store', store, '--json', 'mount', mountpoint], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
    const m = new MountChild(child, mountpoint);
    live.add(m);
    const deadline = Date.now() + timeoutMs;
    while (!m.stdout.includes('"event":"mounted"')) {
      if (!m.#running) throw new Error(`realize mount exited before mounting:\n${m.stderr}`);
      if (Date.now() > deadline) {
        await m.stop();
        throw new Error(`realize mount did not mount within ${timeoutMs} ms:\n${m.stderr}`);
      }
      await sleep(25);
    }
    return m;
  }

  async stop(): Promise<void> {
    if (this.#running) this.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise<void>((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    if (await mounted(this.mountpoint)) await run('fusermount', ['-u', this.mountpoint], 10_000);
    if (await mounted(this.mountpoint)) await run('umount', ['-l', this.mountpoint], 10_000);
    if (this.#running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    live.delete(this);
  }

  /** Bytes [offset, offset + length) of a file on the mount (async, with a timeout). */
  async read(rel: string, offset: number, length: number, ms = 10_000): Promise<Buffer> {
    return within(ms, `read ${rel}`, (async () => {
      const fh = await open(join(this.mountpoint, rel), 'r');
      try {
        const buf = Buffer.alloc(length);
        let got = 0;
        while (got < length) {
          const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return buf.subarray(0, got);
      } finally {
        await fh.close();
      }
    })());
  }

  /** getxattr / setxattr through python3 (Node has no xattr calls); errno name on failure. */
  async xattr(op: 'get' | 'set', rel: string, name: string, value?: string): Promise<{ ok: boolean; value: string }> {
    const script =
      op === 'get'
        ? 'import os,sys\ntry:\n print(os.getxattr(sys.argv[1], sys.argv[2]).decode())\nexcept OSError as e:\n import errno; print("ERR " + errno.errorcode[e.errno]); sys.exit(1)'
        : 'import os,sys\ntry:\n os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())\nexcept OSError as e:\n import errno; print("ERR " + errno.errorcode[e.errno]); sys.exit(1)';
    const r = await run('python3', ['-c', script, join(this.mountpoint, rel), name, ...(value === undefined ? [] : [value])], 15_000);
    return { ok: r.code === 0, value: r.stdout.trim() };
  }
}
