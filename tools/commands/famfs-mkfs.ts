/** `realize famfs mkfs DEVICE`: a superblock with a fresh device uuid (spec/famfs-format.md). */
import { Option, type Command } from 'commander';
import { mkfs, uuidString } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';

export function parseSize(v: string): number {
  const m = /^(\d+)([kmgt]?)(i?b)?$/i.exec(v.trim());
  if (!m) throw new CliError('USAGE', `not a size: ${JSON.stringify(v)} (e.g. 1073741824, 512m, 4g)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Number(m[1]) * mult;
}

export function register(famfs: Command, cli: Cli): void {
  famfs
    .command('mkfs')
    .description('write a famfs superblock (with a new device uuid) to a DAX/pmem device or a regular file standing in for one')
    .argument('<device>', 'the device, or a regular file')
    .addOption(new Option('--size <bytes>', 'create (or grow) a regular file of this size first (e.g. 1g)').argParser(parseSize))
    .option('--force', 'overwrite an existing superblock')
    .action(async (device: string, opts: { size?: number; force?: boolean }, cmd: Command) => {
      const sb = await mkfs(device, { ...(opts.size !== undefined ? { size: opts.size } : {}), force: opts.force === true, randomBytes: cli.env.randomBytes, now: cli.env.now });
      cli.report(cmd, `famfs device ${uuidString(sb.uuid)}: ${device}, ${sb.size} bytes (add it to an area with \`realize famfs add AREA ${device}\`)`, {
        device, uuid: uuidString(sb.uuid), size: sb.size, unit: sb.unit,
      });
    });
}
