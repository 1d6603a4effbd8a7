/**
 * Child processes for the mount tests. The test process never serves a mount, but it still
 * drives the mount only asynchronously (or from children), each with a timeout, so that a
 * wedged server fails a test instead of hanging it.
 */
import { spawn } from 'node:child_process';

export const NOBODY = 65534;

export interface Ran {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly input?: string | Buffer;
  /** Run as uid/gid 65534 with no supplementary groups. */
  readonly asNobody?: boolean;
}

/** Runs a command to its end (killed with SIGKILL after the timeout). Never rejects. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<Ran> {
  const [file, argv] = opts.asNobody
    ? ['setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', cmd, ...args]]
    : [cmd, [...args]];
  return new Promise((resolve) => {
    const child = spawn(file, argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 60_000,
      killSignal: 'SIGKILL',
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      env: opts.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    child.on('error', (err) => resolve({ code: -1, signal: null, stdout, stderr: `${stderr}${String(err)}` }));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** `sh -c script`, failing with the output when it exits non-zero. */
export async function sh(script: string, opts: RunOptions = {}): Promise<string> {
  const r = await run('sh', ['-c', script], opts);
  if (r.code !== 0) throw new Error(`sh -c ${JSON.stringify(script)} exited ${r.code ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when `p` settles or after `ms`, whichever comes first, leaving no timer behind. */
export async function settleWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p.then(() => undefined, () => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** Resolves with the value, or rejects when it takes longer than `ms`. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms))),
  ]);
}
