/** `realize tree [PATH] [--at POSITION]`: the tree below PATH, indented. */
import type { Command } from 'commander';
import type { NodeInfo, Snapshot } from '../../engine/index.js';
import { atOption, snapshotAt } from '../at-option.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('tree')
    .description('show the tree below PATH')
    .argument('[path]', 'a path in the store', '/')
    .addOption(atOption())
    .action(async (path: string, opts: { at?: string }, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const snap: Snapshot = await snapshotAt(engine, opts.at);
        const visit = (p: string, name: string, info: NodeInfo, depth: number): void => {
          const suffix = info.kind === 'dir' ? '/' : info.kind === 'symlink' ? ` -> ${info.target}` : '';
          cli.report(cmd, `${'  '.repeat(depth)}${name}${suffix}`, { path: p, kind: info.kind, size: info.size });
          if (info.kind === 'dir') for (const e of snap.readdir(p)) visit(`${p === '/' ? '' : p}/${e.name}`, e.name, e.info, depth + 1);
        };
        visit(path, path, snap.stat(path), 0);
      });
    });
}
