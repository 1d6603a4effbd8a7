/** `realize famfs fsck`: every extent inside its device, none overlapping. Exit 1 on an error. */
import type { Command } from 'commander';
import { famfsFsck } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { formatBytes } from '../format.js';
import { withEngine } from '../with-engine.js';

export function register(famfs: Command, cli: Cli): void {
  famfs
    .command('fsck')
    .description('check that every famfs extent lies inside its device and that none overlap')
    .action(async (_opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, {}, async (engine) => {
        const r = await famfsFsck(engine);
        for (const p of r.problems) cli.report(cmd, `${p.severity}: ${p.what}`, { event: 'problem', ...p });
        cli.report(
          cmd,
          `${r.ok ? 'ok' : 'FAILED'}: ${r.devices} devices, ${r.files} files, ${r.extents} extents; ${formatBytes(r.allocated)} allocated, ${formatBytes(r.free)} free`,
          { event: 'checked', devices: r.devices, files: r.files, extents: r.extents, allocated: r.allocated, free: r.free, ok: r.ok },
        );
        if (!r.ok) throw new CliError('CHECK_FAILED', `famfs fsck found ${r.problems.filter((p) => p.severity === 'error').length} errors`);
      });
    });
}
