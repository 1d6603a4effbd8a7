/** Runs the `realize` CLI in-process, capturing what it prints: the one helper spec files share. */
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
