/**
 * `realize cache [--size SIZE]`: the content cache of Unreal files. Shows its budget, what it
 * holds (evictable, and kept: pinned Real content, content not yet acknowledged by every
 * follower, content whose only known copy is here), and with --size sets the budget and
 * evicts the least recently read blocks at once until the cache fits (while a mount or
 * `realize serve` holds the store, that process does it).
 */
import type { Command } from 'commander';
import { formatBytes, parseSize, PlacementError } from '../../engine/placement/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { withWriter } from '../with-writer.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('cache')
    .description('the cache of Unreal content: its budget and use; --size sets the budget and evicts down to it')
    .option('--size <size>', 'the budget, e.g. 10G, 512M (binary units)')
    .action(async (opts: { size?: string }, cmd: Command) => {
      let size: number | undefined;
      if (opts.size !== undefined) {
        try {
          size = parseSize(opts.size);
        } catch (err) {
          if (err instanceof PlacementError) throw new CliError('USAGE', err.message);
          throw err;
        }
      }
      await withWriter(cli, cmd, async (w) => {
        const r = await w.run('cache', size === undefined ? {} : { sizeBytes: size });
        const kept = r.protectedBy;
        const human = [
          `cache budget ${formatBytes(r.sizeBytes)}${r.budget < r.sizeBytes ? ` (${formatBytes(r.budget)} now: the disk is short of free space, Real content comes first)` : ''}`,
          `evictable   ${formatBytes(r.after)}${r.evictedBlocks > 0 ? ` (evicted ${r.evictedBlocks} blocks, ${formatBytes(r.evictedBytes)}, least recently read first)` : ''}`,
          `kept        ${formatBytes(r.protectedBytes)}: ${formatBytes(kept.real)} Real, ${formatBytes(kept.unacked)} not yet acknowledged by every follower, ${formatBytes(kept['only-copy'])} with no known copy elsewhere`,
        ].join('\n');
        cli.report(cmd, human, r);
      });
    });
}
