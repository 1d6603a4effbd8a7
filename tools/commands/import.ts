/**
 * `realize import SRC [DEST]`: a plain directory into the store, keeping modes, times,
 * symlinks. While a mount or `realize serve` holds the store, that process imports it.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { ImportProgress } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { formatBytes } from '../format.js';
import { withWriter } from '../with-writer.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('import')
    .description('copy a plain directory into the store (like cp -a; DEST defaults to the area /home)')
    .argument('<src>', 'directory (or file) to import')
    .argument('[dest]', 'where in the store: /AREA or a path inside one', '/home')
    .option('--compress', 'store blocks compressed when that saves space')
    .action(async (src: string, dest: string, opts: { compress?: boolean }, cmd: Command) => {
      await withWriter(cli, cmd, async (w) => {
        const started = performance.now();
        const r = await w.run('import', { src: resolve(src), dest, compress: opts.compress === true }, {
          onProgress: (v) => {
            const p = v as ImportProgress;
            cli.progress(cmd, `importing: ${p.files} files, ${p.dirs} directories, ${formatBytes(p.bytes)}`);
          },
        });
        cli.progressDone(cmd);
        const seconds = (performance.now() - started) / 1000;
        for (const s of r.skipped) cli.stderr.write(`realize: skipped ${s}\n`);
        cli.report(
          cmd,
          `imported ${src} as ${r.dest}: ${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks, ${formatBytes(r.bytes)} in ${seconds.toFixed(2)} s`,
          { ...r, seconds },
        );
      });
    });
}
