/** Opens the store named by --store for the length of one command, and always closes it. */
import type { Command } from 'commander';
import { Store, type OpenOptions } from '../engine/index.js';
import type { Cli } from './cli-context.js';

export async function withStore<T>(cli: Cli, cmd: Command, opts: OpenOptions, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await Store.open(cli.globals(cmd).store, cli.env, {
    ...opts,
    onRecovery: (r) => cli.stderr.write(`realize: recovered feed ${r.feed.slice(0, 16)}…: cut ${r.bytesCut} bytes of a torn tail at offset ${r.cutAt} of ${r.segment} (${r.reason})\n`),
  });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
