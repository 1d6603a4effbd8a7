/** `realize restore PATH --at POSITION`: bring a past version back as a new change. */
import { Option, type Command } from 'commander';
import type { Cli } from '../cli-context.js';
import { withWriter } from '../with-writer.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('restore')
    .description('bring back PATH as it was at POSITION, as a new change (the log is never rewritten)')
    .argument('<path>', 'a path as it was then')
    .addOption(new Option('--at <position>', 'where to take it from').makeOptionMandatory())
    .action(async (path: string, opts: { at: string }, cmd: Command) => {
      await withWriter(cli, cmd, async (w) => {
        const r = await w.run('restore', { path, at: opts.at });
        cli.report(cmd, `restored ${path} from @${r.position}: ${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks`, r);
      });
    });
}
