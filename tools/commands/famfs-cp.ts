/** `realize famfs cp SRC DEST`: a regular file into a famfs area, its bytes written straight into the device. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Cli } from '../cli-context.js';
import { formatBytes } from '../format.js';
import { withWriter } from '../with-writer.js';

export function register(famfs: Command, cli: Cli): void {
  famfs
    .command('cp')
    .description('copy a regular file into a famfs area (DEST must not exist; its area must have a device)')
    .argument('<src>', 'a regular file')
    .argument('<dest>', 'the new file, e.g. /area/dir/name')
    .action(async (src: string, dest: string, _opts: unknown, cmd: Command) => {
      await withWriter(cli, cmd, async (w) => {
        const r = await w.run('famfs-cp', { src: resolve(src), dest }, {
          onProgress: (p) => cli.progress(cmd, `copying ${src}: ${formatBytes((p as { bytes: number }).bytes)}`),
        });
        cli.progressDone(cmd);
        cli.report(cmd, `copied ${src} to ${dest}: ${formatBytes(r.bytes)} in ${r.extents.length} extents`, { ...r, src });
      });
    });
}
