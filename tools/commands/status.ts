/**
 * `realize status`: each peer of the household: connected (when `realize serve` runs), when
 * last seen, and how far behind each side is, in entries and bytes.
 */
import type { Command } from 'commander';
import { followed, loadHousehold, readLive, syncStatus, SyncState } from '../../engine/sync/index.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function register(program: Command, cli: Cli): void {
  program
    .command('status')
    .description('each peer: connected, and how far behind (entries and bytes)')
    .action(async (_opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const root = engine.store.layout.root;
        const state = await SyncState.open(root);
        const rows = await syncStatus(engine.store.feeds, await loadHousehold(engine), state.data, await readLive(root), await followed(engine));
        if (rows.length === 0) cli.report(cmd, 'no peers in the household (add one with `realize peer add NAME KEY`)', null);
        for (const r of rows) {
          const conn = r.connected === null ? 'not serving' : r.connected ? 'connected' : 'not connected';
          const seen = r.lastSeen === null ? 'never seen' : `last seen ${new Date(r.lastSeen).toISOString()}`;
          cli.report(
            cmd,
            `${r.name.padEnd(16)} ${conn.padEnd(13)} ${seen}; it lacks ${r.peerBehind.entries} entries (${bytes(r.peerBehind.bytes)}) of ours; we lack ${r.selfBehind.entries} of its`,
            r,
          );
        }
      });
    });
}
