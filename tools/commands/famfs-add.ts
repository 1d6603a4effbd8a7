/** `realize famfs add AREA DEVICE`: the area becomes (or stays) a famfs area backed by DEVICE: one famfs-device event. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Cli } from '../cli-context.js';
import { withWriter } from '../with-writer.js';

export function register(famfs: Command, cli: Cli): void {
  famfs
    .command('add')
    .description('add a famfs device (made with `famfs mkfs`) to an area: its files get their space as extents of it')
    .argument('<area>', 'the area')
    .argument('<device>', 'the device or file holding a famfs superblock')
    .action(async (area: string, device: string, _opts: unknown, cmd: Command) => {
      await withWriter(cli, cmd, async (w) => {
        const r = await w.run('famfs-add', { area, device: resolve(device) });
        cli.report(cmd, `${r.added ? 'added' : 'found'} famfs device ${r.uuid} (${device}, ${r.size} bytes) ${r.added ? 'to' : 'in'} area ${area}`, { ...r, device });
      });
    });
}
