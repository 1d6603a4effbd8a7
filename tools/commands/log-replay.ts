/** `realize log replay --check`: rebuild projections from the log and compare with the live ones. */
import type { Command } from 'commander';
import { replayCheck } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { withEngine } from '../with-engine.js';

export function register(log: Command, cli: Cli): void {
  log
    .command('replay')
    .description('replay the log: --check rebuilds every projection in a scratch place and compares digests')
    .option('--check', 'rebuild into a scratch location and compare each projection with the live one')
    .action(async (opts: { check?: boolean }, cmd: Command) => {
      if (!opts.check) throw new CliError('USAGE', 'say what to replay into: --check');
      await withEngine(cli, cmd, {}, async (engine) => {
        const r = await replayCheck(engine, { onProgress: (p) => cli.progress(cmd, `replaying: ${p.done}/${p.total} entries`) });
        cli.progressDone(cmd);
        for (const p of r.projections) {
          cli.report(cmd, `${p.same ? 'same' : 'DIFFERS'}  ${p.name.padEnd(8)} ${p.rebuilt.slice(0, 16)}${p.same ? '' : ` (live ${p.live.slice(0, 16)})`}`, p);
        }
        const rate = r.seconds > 0 ? Math.round(r.entries / r.seconds) : r.entries;
        cli.report(cmd, `replayed ${r.entries} entries in ${r.seconds.toFixed(2)} s (${rate} entries/s)`, { entries: r.entries, seconds: r.seconds, ok: r.ok });
        if (!r.ok) throw new CliError('CHECK_FAILED', `rebuilt projections differ from the live ones: ${r.projections.filter((p) => !p.same).map((p) => p.name).join(', ')}`);
      });
    });
}
