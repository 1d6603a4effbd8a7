/**
 * The `realize` CLI run in-process (tools/main.ts) against a test store, with the test's
 * injected environment (clock and randomness), capturing stdout as bytes and stderr as text.
 */
import { Writable } from 'node:stream';
import type { StoreEnv } from '../../../engine/index.js';
import { makeCli } from '../../../tools/cli-context.js';
import { main } from '../../../tools/main.js';

export interface CliRun {
  readonly code: number;
  readonly out: Buffer;
  readonly stdout: string;
  readonly stderr: string;
}

function sink(): Writable & { bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  }) as Writable & { bytes(): Buffer };
  w.bytes = () => Buffer.concat(chunks);
  return w;
}

/** Runs `realize --store STORE ARGS...` and returns its exit code and output. */
export async function realize(env: StoreEnv, store: string, ...args: string[]): Promise<CliRun> {
  const stdout = sink();
  const stderr = sink();
  const code = await main(['--store', store, ...args], makeCli({ env, stdout, stderr }));
  const out = stdout.bytes();
  return { code, out, stdout: out.toString('utf8'), stderr: stderr.bytes().toString('utf8') };
}

/** The JSON lines a --json command printed. */
export function jsonLines(r: CliRun): Array<Record<string, unknown>> {
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Like realize(), but throws (with the output) unless it exits 0. */
export async function realizeOk(env: StoreEnv, store: string, ...args: string[]): Promise<CliRun> {
  const r = await realize(env, store, ...args);
  if (r.code !== 0) throw new Error(`realize ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}
