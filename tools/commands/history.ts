/** `realize history PATH`: every version of a path, newest first. */
import type { Command } from 'commander';
import { history } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { isoTime } from '../format.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('history')
    .description('every version of PATH, newest first (follows renames; shows deletes and re-creates)')
    .argument('<path>', 'a path in the store (it may have been deleted)')
    .action(async (path: string, _opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        for (const h of await history(engine, path)) {
          const size = h.size === null ? '-' : String(h.size);
          cli.report(
            cmd,
            `@${h.position}  ${isoTime(h.time)}  ${h.author.slice(0, 8)}  ${h.events.join(',').padEnd(16)} ${size.padStart(10)}  ${h.hash ? h.hash.slice(0, 16) : '-'.padEnd(16)}  ${h.path ?? '(no name)'}`,
            h,
          );
        }
      });
    });
}
