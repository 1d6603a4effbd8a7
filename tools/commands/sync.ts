/**
 * `realize sync [PEER] [--watch]`: dials PEER (a name or key of a member with an address), or
 * every member with an address, and syncs until both sides hold what the other had; with
 * --watch it stays connected (reconnecting when cut) until SIGINT/SIGTERM.
 */
import { Option, type Command } from 'commander';
import { loadHousehold, SyncError, SyncNode, type Member, type SessionStats } from '../../engine/sync/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { withEngine } from '../with-engine.js';

function summary(m: Member, s: SessionStats): string {
  return `synced with ${m.name}: ${s.entriesIn} entries and ${s.blocksIn} blocks in, ${s.entriesOut} entries and ${s.blocksOut} blocks out${s.refused > 0 ? `, ${s.refused} entries refused` : ''}${s.blocksUnavailable > 0 ? `, ${s.blocksUnavailable} blocks not available there` : ''}`;
}

export function register(program: Command, cli: Cli): void {
  program
    .command('sync')
    .description('sync with a peer (or every listening peer) once, or continuously with --watch')
    .argument('[peer]', 'a member (name or key) that has an address')
    .addOption(new Option('--watch', 'stay connected and keep syncing until interrupted'))
    .action(async (peerName: string | undefined, opts: { watch?: boolean }, cmd: Command) => {
      await withEngine(cli, cmd, {}, async (engine) => {
        const h = await loadHousehold(engine);
        let targets: Member[];
        if (peerName !== undefined) {
          const m = h.find(peerName);
          if (m === undefined || m.self) throw new CliError('USAGE', `no peer named ${JSON.stringify(peerName)} in the household (see \`realize peer list\`)`);
          if (m.address === null) throw new CliError('USAGE', `peer ${m.name} is deaf (it has no address): it has to dial this peer`);
          targets = [m];
        } else {
          targets = h.peers().filter((m) => m.address !== null);
          if (targets.length === 0) throw new CliError('USAGE', 'no member of the household has an address to dial (add one with `realize peer add NAME KEY --address HOST:PORT`)');
        }
        const log = (line: string): void => void cli.stderr.write(`realize sync: ${line}\n`);
        const node = await SyncNode.start(engine, { log, dial: false });
        let failed = 0;
        try {
          if (opts.watch) {
            let stop = false;
            const done = new Promise<void>((resolve) => {
              const onSignal = (): void => {
                stop = true;
                process.off('SIGINT', onSignal);
                process.off('SIGTERM', onSignal);
                void node.close().then(resolve);
              };
              process.on('SIGINT', onSignal);
              process.on('SIGTERM', onSignal);
            });
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
            return;
          }
          for (const m of targets) {
            try {
              const s = await node.syncWith({ key: m.key, address: m.address! });
              cli.report(cmd, summary(m, s), { peer: m.name, key: m.key, ...s });
            } catch (err) {
              if (!(err instanceof SyncError)) throw err;
              failed++;
              log(`cannot sync with ${m.name} at ${m.address}: ${err.message}`);
            }
          }
        } finally {
          await node.close();
        }
        if (failed > 0) throw new CliError('CHECK_FAILED', `${failed} of ${targets.length} peer${targets.length === 1 ? '' : 's'} could not be synced`);
      });
    });
}
