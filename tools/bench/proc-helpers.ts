/**
 * Child processes for the benches: every outside tool (cp, dd, tar, find, bindfs, the mount
 * server) runs in a child, with a timeout, so a wedged mount fails a bench instead of hanging
 * it, and the bench process never touches a mounted path itself.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { ChildProcess } from 'node:child_process';

export interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall seconds from spawn to exit. */
  readonly seconds: number;
  readonly timedOut: boolean;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Keep stdout (default true); off for tools that print a lot (find over 10,000 files). */
  readonly captureStdout?: boolean;
}

/** Runs a command to its end, SIGKILLed after the timeout. Never rejects. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Ran> {
  return new Promise((resolve) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, [...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      env: opts.env ?? process.env,
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    let stdout = '';
    let stderr = '';
    let lines = 0;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (opts.captureStdout === false) {
        for (let i = d.indexOf('\n'); i >= 0; i = d.indexOf('\n', i + 1)) lines++;
      } else stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)));
    const done = (code: number | null, signal: NodeJS.Signals | null, extra = ''): void => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      resolve({ code, signal, stdout: opts.captureStdout === false ? String(lines) : stdout, stderr: stderr + extra, seconds, timedOut });
    };
    child.on('error', (err) => done(-1, null, String(err)));
    child.on('close', (code, signal) => done(code, signal));
  });
}

/** Like run, but throws (with the output) unless the command exits 0. */
export async function runOk(what: string, cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Ran> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts.timeoutMs ?? 120_000} ms` : `exited ${r.code ?? r.signal}`;
    throw new Error(`${what}: ${cmd} ${args.join(' ')} ${why}\n${r.stderr.trim()}`);
  }
  return r;
}

/** A process's peak RSS (VmHWM) in bytes, from /proc/PID/status; null when not readable. */
export async function vmHwmOf(pid: number): Promise<number | null> {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether `cmd` can be run (found on PATH). */
export async function have(cmd: string): Promise<boolean> {
  const r = await run('sh', ['-c', `command -v ${cmd}`], { timeoutMs: 10_000 });
  return r.code === 0;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Ends a child: `signal` (SIGTERM), then SIGKILL after 10 s; resolves once it exited. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
