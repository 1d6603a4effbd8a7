/**
 * `realize mark real|unreal PATH...`: this peer's placement of paths. Real: the content must
 * be complete here (it is downloaded in the background by `realize serve` or a mount with
 * peers, and then never evicted). Unreal: metadata here, content fetched when read and kept
 * in the cache (`realize cache`). A directory's mark applies to everything below it without a
 * mark of its own, new files included. The mark is an event in this peer's own feed; it
 * changes no other peer's placement. `--wait` (with real) dials the household's listening
 * peers and returns once the content is here.
 */
import { Option, type Command } from 'commander';
import { formatBytes, markPath, parsePlacement, pathStatus, statusContext } from '../../engine/placement/index.js';
import { SyncNode } from '../../engine/sync/index.js';
import { EngineError } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('mark')
    .description('set this peer\'s placement of paths: real (complete here, pinned) or unreal (fetched on demand, cached)')
    .argument('<placement>', 'real or unreal')
    .argument('<paths...>', 'paths in the store (a directory sets what is below it)')
    .option('--wait', 'with real: fetch the content from the household\'s listening peers now, and return once it is here')
    .addOption(new Option('--wait-timeout <seconds>', 'with --wait: give up after this long without progress').argParser(Number).default(60))
    .action(async (placementArg: string, paths: string[], opts: { wait?: boolean; waitTimeout: number }, cmd: Command) => {
      let placement;
      try {
        placement = parsePlacement(placementArg);
      } catch (err) {
        throw new CliError('USAGE', (err as Error).message);
      }
      if (opts.wait && placement !== 'real') throw new CliError('USAGE', '--wait goes with `mark real`');
      await withEngine(cli, cmd, {}, async (engine) => {
        for (const path of paths) {
          const r = await markPath(engine, path, placement);
          cli.report(cmd, `${path}: ${placement}${r.changed ? '' : ' (already marked so)'}`, { path, id: r.id, placement, changed: r.changed });
        }
        if (!opts.wait) return;
        const service = engine.placement;
        if (service === null) throw new EngineError('READ_ONLY', 'the store is open read-only');
        const node = await SyncNode.start(engine, { dial: true });
        try {
          service.start();
          let last = -1;
          let lastChange = Date.now();
          for (;;) {
            const done = service.realizer.idle().then(() => true);
            const tick = new Promise<false>((r) => setTimeout(() => r(false), 250));
            const finished = await Promise.race([done, tick]);
            const ctx = await statusContext(engine);
            const rows = paths.map((p) => pathStatus(engine, p, ctx, { limit: 0 }).presence);
            const held = rows.reduce((n, r) => n + r.heldBytes, 0);
            const total = rows.reduce((n, r) => n + r.bytes, 0);
            if (held !== last) {
              last = held;
              lastChange = Date.now();
            }
            cli.progress(cmd, `realizing: ${formatBytes(held)} of ${formatBytes(total)} here${service.realizer.progress.waiting ? ` (${service.realizer.progress.waiting})` : ''}`);
            if (held >= total || (finished && service.realizer.progress.queuedBlocks === 0)) {
              cli.progressDone(cmd);
              cli.report(cmd, `complete: ${formatBytes(total)} here`, { complete: held >= total, bytes: total, heldBytes: held });
              if (held < total) throw new CliError('CHECK_FAILED', `only ${formatBytes(held)} of ${formatBytes(total)} could be fetched`);
              return;
            }
            if (Date.now() - lastChange > opts.waitTimeout * 1000) {
              cli.progressDone(cmd);
              throw new CliError('CHECK_FAILED', `no progress for ${opts.waitTimeout} s: ${formatBytes(held)} of ${formatBytes(total)} here (${service.realizer.progress.waiting ?? 'no peer gave the rest'})`);
            }
          }
        } finally {
          await node.close();
        }
      });
    });
}
