/**
 * `realize mount --at POSITION` in a child process. The test process only ever touches the
 * mountpoint asynchronously (fs/promises), never with *Sync calls (a wedged server must fail
 * a test, not hang it). stop() always clears the mount: SIGTERM, then fusermount -u, then
 * umount -l, then SIGKILL of the child; it is also run when the test process exits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const REALIZE = join(REPO, 'tools', 'bin', 'realize.js');

const live = new Set<AtMount>();
process.on('exit', () => {
  for (const m of live) {
    try {
      m.child.kill('SIGKILL');
    } catch {
      // gone already
    }
    spawnSync('fusermount', ['-u', m.mountpoint], { timeout: 5000, stdio: 'ignore' });
    spawnSync('umount', ['-l', m.mountpoint], { timeout: 5000, stdio: 'ignore' });
  }
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the value, or rejects when it takes longer than `ms`. */
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

function runQuiet(cmd: string, args: string[]): Promise<number | null> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { stdio: 'ignore', timeout: 10_000, killSignal: 'SIGKILL' });
    c.on('error', () => res(-1));
    c.on('close', (code) => res(code));
  });
}

export class AtMount {
  readonly child: ChildProcess;
  readonly mountpoint: string;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  exitCode: number | null = null;
  #running = true;

  private constructor(child: ChildProcess, mountpoint: string) {
    this.child = child;
    this.mountpoint = mountpoint;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((res) =>
      child.on('exit', (code) => {
        this.exitCode = code;
        this.#running = false;
        live.delete(this);
        res(code);
      }),
    );
  }

  get events(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Starts `realize --store STORE --json mount MP --at AT` and waits for {"event":"mounted"}. */
  static async start(store: string, mountpoint: string, at: string, timeoutMs = 30_000): Promise<AtMount> {
    const child = spawn(process.execPath, [REALIZE, '--store', store, '--json', 'mount', mountpoint, '--at', at], { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
    const m = new AtMount(child, mountpoint);
    live.add(m);
    const deadline = Date.now() + timeoutMs;
    while (!m.events.some((e) => e['event'] === 'mounted')) {
      if (!m.#running) throw new Error(`realize mount --at ${at} exited (code ${m.exitCode}) before mounting:\n${m.stderr}`);
      if (Date.now() > deadline) {
        await m.stop();
        throw new Error(`realize mount --at ${at} did not mount within ${timeoutMs} ms:\n${m.stderr}`);
      }
      await sleep(25);
    }
    return m;
  }

  /** SIGTERM and wait; then fusermount -u, umount -l, and SIGKILL whatever is left. */
  async stop(): Promise<void> {
    if (this.#running) this.child.kill('SIGTERM');
    await Promise.race([this.exited, sleep(10_000)]);
    if (await mounted(this.mountpoint)) await runQuiet('fusermount', ['-u', this.mountpoint]);
    if (await mounted(this.mountpoint)) await runQuiet('umount', ['-l', this.mountpoint]);
    if (this.#running) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    live.delete(this);
  }

  async isMounted(): Promise<boolean> {
    return mounted(this.mountpoint);
  }
}
