/** `realize cat PATH`: a file's bytes on stdout. */
import type { Command } from 'commander';
import { CliError } from '../cli-error.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';
import { atOption, snapshotAt } from '../at-option.js';

const CHUNK = 1024 * 1024;

export function register(program: Command, cli: Cli): void {
  program
    .command('cat')
    .description("write a file's content to stdout")
    .argument('<path>', 'a file in the store')
    .addOption(atOption())
    .action(async (path: string, opts: { at?: string }, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const snap = await snapshotAt(engine, opts.at);
        const info = snap.stat(path);
        if (info.kind !== 'file') throw new CliError('USAGE', `${path} is not a regular file`);
        for (let offset = 0; offset < info.size; offset += CHUNK) {
          const data = await snap.read(info.id, offset, CHUNK);
          if (!cli.stdout.write(data)) await new Promise((r) => cli.stdout.once('drain', r));
        }
      });
    });
}
