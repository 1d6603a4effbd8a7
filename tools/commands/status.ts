/**
 * `realize status`: each peer of the household: connected (when `realize serve` runs), when
 * last seen, and how far behind each side is, in entries and bytes; then the files that
 * cannot be read now, and why (content not here, and no peer to fetch it from).
 *
 * `realize status PATH`: this peer's placement of PATH (real or unreal, marked there or
 * inherited from which ancestor), how much of its content is here (all, part, none; the
 * progress of a Real download), and which of its files cannot be read now, and why.
 */
import type { Command } from 'commander';
import { followed, loadHousehold, readLive, syncStatus, SyncState } from '../../engine/sync/index.js';
import { pathStatus, statusContext, type PathStatus } from '../../engine/placement/index.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';

/** Unavailable files listed in human output (--json lists them all). */
const LIST = 20;

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

function placementLine(s: PathStatus): string {
  const how = s.explicit ? 'marked here' : s.markedAt !== null ? `inherited from ${s.markedAt}` : 'the default';
  const pr = s.presence;
  const share = pr.bytes === 0 ? '' : ` (${Math.floor((pr.heldBytes / pr.bytes) * 100)}%)`;
  const files = s.kind === 'dir' ? ` in ${s.files} file${s.files === 1 ? '' : 's'}` : '';
  return `${s.path}: ${s.placement} (${how}); content here: ${pr.presence}, ${bytes(pr.heldBytes)} of ${bytes(pr.bytes)}${share}${files}`;
}

function reportPath(cli: Cli, cmd: Command, s: PathStatus, json: boolean): void {
  const { unavailable, ...rest } = s;
  cli.report(cmd, placementLine(s), { ...rest, unavailable: unavailable.map((u) => ({ path: u.path, presence: u.presence.presence, heldBytes: u.presence.heldBytes, bytes: u.presence.bytes, reason: u.reason })) });
  if (json) return;
  for (const u of unavailable.slice(0, LIST)) cli.report(cmd, `  unavailable: ${u.path}: ${u.reason}`, null);
  if (unavailable.length > LIST) cli.report(cmd, `  ... and ${unavailable.length - LIST} more unavailable (--json lists them all)`, null);
}

export function register(program: Command, cli: Cli): void {
  program
    .command('status')
    .description('each peer: connected, and how far behind; with PATH: its placement, how much of it is here, and what cannot be read now')
    .argument('[path]', 'a path in the store')
    .action(async (path: string | undefined, _opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const json = cli.globals(cmd).json;
        if (path !== undefined) {
          const s = pathStatus(engine, path, await statusContext(engine));
          reportPath(cli, cmd, s, json);
          return;
        }
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
        // Files that cannot be read now (their content is not here), in every area.
        const ctx = await statusContext(engine);
        const problems = engine.readdir('/').flatMap((a) => pathStatus(engine, `/${a.name}`, ctx, json ? {} : { limit: LIST + 1 }).unavailable);
        for (const u of problems.slice(0, json ? problems.length : LIST)) {
          cli.report(cmd, `unavailable: ${u.path}: ${u.reason}`, { unavailable: u.path, presence: u.presence.presence, heldBytes: u.presence.heldBytes, bytes: u.presence.bytes, reason: u.reason });
        }
        if (!json && problems.length > LIST) cli.report(cmd, `... and more unavailable files (\`realize status PATH\` lists those under PATH)`, null);
      });
    });
}
