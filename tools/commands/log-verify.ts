/** `realize log verify`: every signature, chain link and frame; names the first bad entry. */
import type { Command } from 'commander';
import { verifyStore } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { withStore } from '../with-store.js';

export function register(log: Command, cli: Cli): void {
  log
    .command('verify')
    .description('check every frame, chain link and signature of every feed')
    .action(async (_opts: unknown, cmd: Command) => {
      await withStore(cli, cmd, { readOnly: true }, async (store) => {
        const started = performance.now();
        const report = await verifyStore(store, (p) => cli.progress(cmd, `verifying ${p.feed.slice(0, 12)}… ${p.done}/${p.total}`));
        cli.progressDone(cmd);
        const seconds = (performance.now() - started) / 1000;
        if (report.problem) {
          const p = report.problem;
          cli.report(cmd, null, { ok: false, feeds: report.feeds, entries: report.entries, problem: p });
          throw new CliError('CHECK_FAILED', `feed ${p.feed}: entry ${p.seq} at byte ${p.offset} of ${p.segment} does not verify: ${p.message} [${p.code}]`);
        }
        cli.report(cmd, `ok: ${report.entries} entries in ${report.feeds} feeds verified in ${seconds.toFixed(2)} s`, {
          ok: true,
          feeds: report.feeds,
          entries: report.entries,
          seconds,
        });
      });
    });
}
