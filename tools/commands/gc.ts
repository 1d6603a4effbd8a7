/** `realize gc`: free the blocks no kept version needs. */
import { Option, type Command } from 'commander';
import type { Cli } from '../cli-context.js';
import { parseSeq } from '../cli-error.js';
import { formatBytes } from '../format.js';
import { withWriter } from '../with-writer.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('gc')
    .description('free blocks that no version inside the retention window references (default: keep every version)')
    .addOption(new Option('--keep-days <n>', 'keep versions committed in the last N days').argParser(parseSeq))
    .addOption(new Option('--keep-versions <n>', 'keep the last N versions of each file').argParser(parseSeq))
    .action(async (opts: { keepDays?: number; keepVersions?: number }, cmd: Command) => {
      await withWriter(cli, cmd, async (w) => {
        const r = await w.run('gc', opts);
        cli.report(cmd, `gc: freed ${r.freedBlocks} blocks (${formatBytes(r.freedBytes)}), rewrote ${r.packsRewritten} packs, ${r.liveBlocks} blocks live`, r);
      });
    });
}
