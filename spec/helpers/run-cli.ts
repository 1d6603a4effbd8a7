/** Runs the `realize` CLI in-process (or in a child process), capturing what it prints: the one helper spec files share. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { makeCli } from '../../tools/cli-context.js';
import { main } from '../../tools/main.js';
import type { StoreEnv } from '../../engine/index.js';
import { capture } from '../engine/helpers/capture.js';

export { capture };

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `realize ...args` with the given environment (time, randomness), or the real one. */
export async function realize(...args: string[]): Promise<CliRun> {
  return realizeWith(undefined, ...args);
}

export async function realizeWith(env: StoreEnv | undefined, ...args: string[]): Promise<CliRun> {
  const stdout = capture();
  const stderr = capture();
  const code = await main(args, makeCli({ stdout, stderr, ...(env ? { env } : {}) }));
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

const BIN = fileURLToPath(new URL('../../tools/bin/realize.js', import.meta.url));

/** `realize ...args` in a child process of its own (a reader beside a server, a real exit): its exit code and what it printed. */
export async function realizeChild(t: Test, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  return { code, stdout, stderr };
}
