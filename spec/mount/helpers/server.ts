/**
 * A `realize mount` server in a child process, for tests that drive a real mount.
 *
 * The server runs under `setpriv --pdeathsig SIGTERM`, so it flushes and unmounts if the test
 * process dies; every server still running (and its mount) is also cleared when the test
 * process exits. Nothing here touches the mounted path synchronously.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, sleep } from './proc.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const REALIZE = join(REPO, 'tools', 'bin', 'realize.js');

export interface ServerOptions {
  readonly allowOther?: boolean;
  readonly readOnly?: boolean;
  /** Kernel attribute/entry cache, seconds. */
  readonly attrTimeout?: number;
  /** How long to wait for the "mounted" event. */
  readonly startTimeoutMs?: number;
  /** More arguments for `realize mount` (e.g. --listen HOST:PORT). */
  readonly extraArgs?: readonly string[];
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

const live = new Set<MountServer>();

process.on('exit', () => {
  for (const s of live) {
    try {
      process.kill(s.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    spawnSync('fusermount', ['-uz', s.mountpoint], { timeout: 5000, stdio: 'ignore' });
    spawnSync('umount', ['-l', s.mountpoint], { timeout: 5000, stdio: 'ignore' });
  }
});

/** The mountinfo line of a mountpoint, if something is mounted there. */
export async function mountLine(mp: string): Promise<string | undefined> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').find((l) => l.split(' ')[4] === mp);
}

/** Clears whatever is mounted at `mp`, wedged or dead: fusermount -u, umount -l, fusectl abort. */
export async function forceUnmount(mp: string): Promise<void> {
  if (!(await mountLine(mp))) return;
  await run('fusermount', ['-u', mp], { timeoutMs: 10_000 });
  if (!(await mountLine(mp))) return;
  await run('umount', ['-l', mp], { timeoutMs: 10_000 });
  const line = await mountLine(mp);
  if (!line) return;
  const minor = line.split(' ')[2]?.split(':')[1];
  if (minor === undefined) return;
  if (!existsSync(`/sys/fs/fuse/connections/${minor}`)) await run('mount', ['-t', 'fusectl', 'fusectl', '/sys/fs/fuse/connections'], { timeoutMs: 10_000 });
  await writeFile(`/sys/fs/fuse/connections/${minor}/abort`, '1').catch(() => undefined);
  await run('umount', ['-l', mp], { timeoutMs: 10_000 });
}

export class MountServer {
  readonly store: string;
  readonly mountpoint: string;
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  #exit: Exit | null = null;

  private constructor(store: string, mountpoint: string, child: ChildProcess) {
    this.store = store;
    this.mountpoint = mountpoint;
    this.child = child;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((res) =>
      child.on('exit', (code, signal) => {
        this.#exit = { code, signal };
        live.delete(this);
        res(this.#exit);
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  /** The JSON events the server printed (--json), in order. */
  get events(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Starts `realize mount` and resolves once it reports {"event":"mounted"}. */
  static async start(store: string, mountpoint: string, opts: ServerOptions = {}): Promise<MountServer> {
    const args = [
      '--pdeathsig',
      'SIGTERM',
      process.execPath,
      REALIZE,
      '--store',
      store,
      '--json',
      'mount',
      mountpoint,
      ...(opts.allowOther ? ['--allow-other'] : []),
      ...(opts.readOnly ? ['--read-only'] : []),
      ...(opts.attrTimeout !== undefined ? ['--attr-timeout', String(opts.attrTimeout)] : []),
      ...(opts.extraArgs ?? []),
    ];
    const child = spawn('setpriv', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
    const server = new MountServer(store, mountpoint, child);
    live.add(server);
    const timeoutMs = opts.startTimeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    while (!server.events.some((e) => e['event'] === 'mounted')) {
      if (!server.running) throw new Error(`realize mount exited (${JSON.stringify(server.#exit)}) before mounting:\n${server.stderr}`);
      if (Date.now() > deadline) {
        await server.kill();
        throw new Error(`realize mount did not mount within ${timeoutMs} ms:\n${server.stderr}`);
      }
      await sleep(25);
    }
    return server;
  }

  /** Waits for the server to end on its own. */
  async waitExit(timeoutMs: number): Promise<Exit | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((r) => (timer = setTimeout(() => r(null), timeoutMs)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer); // a pending timer would keep the test process alive
    }
  }

  /** SIGTERM (flush and unmount), waiting up to `timeoutMs`; then SIGKILL and a forced unmount. */
  async stop(timeoutMs = 30_000): Promise<Exit> {
    if (this.running) this.child.kill('SIGTERM');
    const exit = await this.waitExit(timeoutMs);
    if (exit !== null) {
      await forceUnmount(this.mountpoint);
      return exit;
    }
    return this.kill();
  }

  /** SIGKILL, then clears the dead mount it leaves (unless `leaveMount`). */
  async kill(opts: { leaveMount?: boolean } = {}): Promise<Exit> {
    if (this.running) this.child.kill('SIGKILL');
    const exit = await this.exited;
    if (!opts.leaveMount) await forceUnmount(this.mountpoint);
    return exit;
  }
}

/** A scratch directory reachable by every user: `store/` and `mnt/` live in it. */
export interface Scratch {
  readonly dir: string;
  readonly store: string;
  readonly mnt: string;
  remove(): Promise<void>;
}

export async function scratch(prefix: string): Promise<Scratch> {
  const dir = await mkdtemp(join(tmpdir(), `realize-${prefix}-`));
  await chmod(dir, 0o755);
  const mnt = join(dir, 'mnt');
  return {
    dir,
    store: join(dir, 'store'),
    mnt,
    async remove() {
      await forceUnmount(mnt);
      if (!(await mountLine(mnt))) await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One mounted store for a test file: starts the server, creates an area, and registers a
 * teardown that stops the server, clears the mount and removes the scratch directory.
 */
export async function mountForTest(
  t: { teardown(fn: () => unknown): void },
  prefix: string,
  opts: ServerOptions & { area?: string } = {},
): Promise<{ scratch: Scratch; server: MountServer; area: string; restart(o?: ServerOptions): Promise<MountServer> }> {
  const s = await scratch(prefix);
  let server: MountServer | null = null;
  t.teardown(async () => {
    await server?.stop();
    await s.remove();
  });
  server = await MountServer.start(s.store, s.mnt, opts);
  const state = {
    scratch: s,
    server,
    area: join(s.mnt, opts.area ?? 'home'),
    async restart(o: ServerOptions = opts): Promise<MountServer> {
      await state.server.stop();
      server = null;
      state.server = server = await MountServer.start(s.store, s.mnt, o);
      return state.server;
    },
  };
  await mkdir(state.area, { mode: 0o755 });
  return state;
}
