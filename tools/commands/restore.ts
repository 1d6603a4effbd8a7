/** `realize restore PATH --at POSITION`: bring a past version back as a new change. */
import { Option, type Command } from 'commander';
import { resolvePosition, restore } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('restore')
    .description('bring back PATH as it was at POSITION, as a new change (the log is never rewritten)')
    .argument('<path>', 'a path as it was then')
    .addOption(new Option('--at <position>', 'where to take it from').makeOptionMandatory())
    .action(async (path: string, opts: { at: string }, cmd: Command) => {
      await withEngine(cli, cmd, {}, async (engine) => {
        const pos = await resolvePosition(engine, opts.at);
        const r = await restore(engine, engine.at(pos.n), path);
        cli.report(cmd, `restored ${path} from @${pos.n}: ${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks`, { path, position: pos.n, ...r });
      });
    });
}
