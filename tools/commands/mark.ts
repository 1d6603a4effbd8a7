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
import { formatBytes, parsePlacement } from '../../engine/placement/index.js';
import type { RealizeProgressReport } from '../../engine/control/index.js';
import { SyncNode } from '../../engine/sync/index.js';
import { EngineError } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { withWriter } from '../with-writer.js';

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
      await withWriter(cli, cmd, async (w) => {
        for (const r of await w.run('mark', { placement, paths })) {
          cli.report(cmd, `${r.path}: ${placement}${r.changed ? '' : ' (already marked so)'}`, r);
        }
        if (!opts.wait) return;
        if (w.engine === null) {
          // The process holding the store (a mount or `realize serve`) fetches with its own connections.
          await waitRealized(cli, cmd, () => w.run('progress', { paths }), opts.waitTimeout);
          return;
        }
        const engine = w.engine;
        const service = engine.placement;
        if (service === null) throw new EngineError('READ_ONLY', 'the store is open read-only');
        const node = await SyncNode.start(engine, { dial: true });
        try {
          service.start();
          await waitRealized(cli, cmd, () => w.run('progress', { paths }), opts.waitTimeout);
        } finally {
          await node.close();
        }
      });
    });
}

/** Reports progress until the content is here, or nothing more comes for `timeoutS` seconds. */
async function waitRealized(cli: Cli, cmd: Command, probe: () => Promise<RealizeProgressReport>, timeoutS: number): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const p = await probe();
    if (p.heldBytes !== last) {
      last = p.heldBytes;
      lastChange = Date.now();
    }
    cli.progress(cmd, `realizing: ${p.line}`);
    if (p.heldBytes >= p.bytes || (p.idle && p.queuedBlocks === 0)) {
      cli.progressDone(cmd);
      cli.report(cmd, `complete: ${formatBytes(p.bytes)} here`, { complete: p.heldBytes >= p.bytes, bytes: p.bytes, heldBytes: p.heldBytes });
      if (p.heldBytes < p.bytes) throw new CliError('CHECK_FAILED', `only ${formatBytes(p.heldBytes)} of ${formatBytes(p.bytes)} could be fetched`);
      return;
    }
    if (Date.now() - lastChange > timeoutS * 1000) {
      cli.progressDone(cmd);
      throw new CliError('CHECK_FAILED', `no progress for ${timeoutS} s: ${p.line}${p.waiting ? '' : ' (no peer gave the rest)'}`);
    }
  }
}
