/** What every command gets: the global options, the environment, and one way to report. */
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { defaultStorePath, type StoreEnv } from '../engine/index.js';

export interface GlobalOptions {
  readonly store: string;
  readonly json: boolean;
  readonly debug: boolean;
}

export interface Cli {
  readonly env: StoreEnv;
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** The global options, as given on the command line. */
  globals(cmd: Command): GlobalOptions;
  /** Prints a result: JSON (one object per line) with --json, else the human text. */
  report(cmd: Command, human: string | null, json: unknown): void;
  /** A progress line on a TTY (stderr); nothing when --json or not a TTY. */
  progress(cmd: Command, text: string): void;
  /** Ends a progress line. */
  progressDone(cmd: Command): void;
}

/** The real clock and randomness (tests inject their own). */
export const systemEnv: StoreEnv = { now: () => Date.now(), randomBytes: (n) => new Uint8Array(randomBytes(n)) };

export function makeCli(overrides: Partial<Pick<Cli, 'env' | 'stdout' | 'stderr'>> = {}): Cli {
  const env: StoreEnv = overrides.env ?? systemEnv;
  const stdout = overrides.stdout ?? process.stdout;
  const stderr = overrides.stderr ?? process.stderr;
  let progressShown = false;
  const globals = (cmd: Command): GlobalOptions => {
    const o = cmd.optsWithGlobals() as { store?: string; json?: boolean; debug?: boolean };
    return { store: o.store ?? defaultStorePath(), json: o.json === true, debug: o.debug === true };
  };
  return {
    env,
    stdout,
    stderr,
    globals,
    report(cmd, human, json) {
      if (globals(cmd).json) stdout.write(`${JSON.stringify(json)}\n`);
      else if (human !== null) stdout.write(human.endsWith('\n') ? human : `${human}\n`);
    },
    progress(cmd, text) {
      if (globals(cmd).json || !stderr.isTTY) return;
      stderr.write(`\r\x1b[K${text}`);
      progressShown = true;
    },
    progressDone() {
      if (progressShown) stderr.write('\r\x1b[K');
      progressShown = false;
    },
  };
}
