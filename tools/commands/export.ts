/** `realize export DEST [PATH]`: the current tree as plain files. */
import type { Command } from 'commander';
import { exportTree } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { formatBytes } from '../format.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('export')
    .description('write the tree (or the subtree at PATH) as plain files into DEST (missing or empty)')
    .argument('<dest>', 'a missing or empty directory')
    .argument('[path]', 'what to export', '/')
    .action(async (dest: string, path: string, _opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const r = await exportTree(engine, path, dest, (p) => cli.progress(cmd, `exporting: ${p.files} files, ${formatBytes(p.bytes)}`));
        cli.progressDone(cmd);
        cli.report(cmd, `exported ${path} to ${dest}: ${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks, ${formatBytes(r.bytes)}`, { path, dest, ...r });
      });
    });
}
