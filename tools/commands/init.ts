/** `realize init`: create the store and this peer's identity. Never overwrites one. */
import type { Command } from 'commander';
import { initStore } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('init')
    .description('create a new store with a fresh identity (refuses to overwrite one)')
    .action(async (_opts: unknown, cmd: Command) => {
      const { store } = cli.globals(cmd);
      const { publicKey } = await initStore(store, cli.env);
      cli.report(cmd, `initialised store ${store}\npeer id ${publicKey}`, { store, id: publicKey });
    });
}
