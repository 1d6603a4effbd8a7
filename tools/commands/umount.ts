/** `realize umount MOUNTPOINT`: end a mount from another shell (the server flushes and exits). */
import type { Command } from 'commander';
import { isFuseMounted, unmountPath } from '../../mount/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('umount')
    .description('unmount a Realize mount')
    .argument('<mountpoint>')
    .option('--lazy', 'detach now even if files are open')
    .action(async (mountpoint: string, opts: { lazy?: boolean }, cmd: Command) => {
      if (!(await isFuseMounted(mountpoint))) throw new CliError('USAGE', `${mountpoint} is not mounted`);
      await unmountPath(mountpoint, opts.lazy === true);
      cli.report(cmd, `unmounted ${mountpoint}`, { mountpoint });
    });
}
