/**
 * `realize sync [PEER] [--watch]`: dials PEER (a name or key of a member with an address), or
 * every member with an address, and syncs until both sides hold what the other had; with
 * --watch it stays connected (reconnecting when cut) until SIGINT/SIGTERM. While a mount or
 * `realize serve` holds the store, that process syncs once for it (it already keeps its
 * peers in sync continuously, so --watch has nothing to add there).
 */
import { Option, type Command } from 'commander';
import { EngineError, type Engine } from '../../engine/index.js';
import { SyncNode, syncTargets, type Member, type SessionStats, type SyncOutcome } from '../../engine/sync/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { withWriter } from '../with-writer.js';

function summary(peer: string, s: SessionStats): string {
  return `synced with ${peer}: ${s.entriesIn} entries and ${s.blocksIn} blocks in, ${s.entriesOut} entries and ${s.blocksOut} blocks out${s.refused > 0 ? `, ${s.refused} entries refused` : ''}${s.blocksUnavailable > 0 ? `, ${s.blocksUnavailable} blocks not available there` : ''}`;
}

export function register(program: Command, cli: Cli): void {
  program
    .command('sync')
    .description('sync with a peer (or every listening peer) once, or continuously with --watch')
    .argument('[peer]', 'a member (name or key) that has an address')
    .addOption(new Option('--watch', 'stay connected and keep syncing until interrupted'))
    .action(async (peerName: string | undefined, opts: { watch?: boolean }, cmd: Command) => {
      const log = (line: string): void => void cli.stderr.write(`realize sync: ${line}\n`);
      await withWriter(cli, cmd, async (w) => {
        if (opts.watch) {
          if (w.engine === null) throw new EngineError('STORE_LOCKED', 'the process holding this store already keeps every peer with an address in sync; `realize status` shows how far each is');
          await watch(w.engine, await syncTargets(w.engine, peerName ?? null), log);
          return;
        }
        const outcomes: SyncOutcome[] = await w.run('sync', { peer: peerName ?? null });
        let failed = 0;
        for (const o of outcomes) {
          if (o.ok) cli.report(cmd, summary(o.peer, o.stats), { peer: o.peer, key: o.key, ...o.stats });
          else {
            failed++;
            log(`cannot sync with ${o.peer}: ${o.error}`);
          }
        }
        if (failed > 0) throw new CliError('CHECK_FAILED', `${failed} of ${outcomes.length} peer${outcomes.length === 1 ? '' : 's'} could not be synced`);
      });
    });
}

/** Keeps a live session with each target, reconnecting with backoff, until SIGINT/SIGTERM. */
async function watch(engine: Engine, targets: readonly Member[], log: (line: string) => void): Promise<void> {
  const node = await SyncNode.start(engine, { log, dial: false });
  let stop = false;
  const done = new Promise<void>((resolve) => {
    const onSignal = (): void => {
      stop = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  try {
    for (const m of targets) {
      void (async () => {
        let wait = 500;
        while (!stop) {
          try {
            await node.syncWith({ key: m.key, address: m.address! }, { live: true });
            wait = 500;
          } catch (err) {
            log(`cannot sync with ${m.name} at ${m.address}: ${(err as Error).message}`);
          }
          if (stop) break;
          await new Promise((r) => setTimeout(r, wait));
          wait = Math.min(30_000, wait * 2);
        }
      })();
    }
    await done;
  } finally {
    await node.close();
  }
}
