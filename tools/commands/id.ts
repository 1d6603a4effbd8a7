/** `realize id`: this peer's public key. The secret key is never printed. */
import type { Command } from 'commander';
import type { Cli } from '../cli-context.js';
import { withStore } from '../with-store.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('id')
    .description("print this peer's public key")
    .action(async (_opts: unknown, cmd: Command) => {
      await withStore(cli, cmd, { readOnly: true }, async (store) => {
        cli.report(cmd, store.publicKey, { id: store.publicKey });
      });
    });
}
