/**
 * `realize serve` in a child process (so it can be killed with SIGKILL mid-transfer), on
 * 127.0.0.1 with a port the OS picks. Killed on teardown.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { HasTeardown } from './peers.js';

const BIN = fileURLToPath(new URL('../../../tools/bin/realize.js', import.meta.url));

export interface ServeChild {
  readonly child: ChildProcess;
  readonly address: string;
  stderr(): string;
  /** SIGTERM, and wait for it to exit. */
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export async function serveChild(t: HasTeardown, store: string, listen = '127.0.0.1:0'): Promise<ServeChild> {
  const child = spawn(process.execPath, [BIN, '--store', store, 'serve', '--listen', listen], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start within 20 s: ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code}) before listening: ${err}`));
    });
  });
  const s: ServeChild = {
    child,
    address,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  t.teardown(() => s.kill());
  return s;
}
