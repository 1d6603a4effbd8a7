/**
 * `realize area create NAME`, `realize area list`, `realize area follow|unfollow NAME`. An
 * area's entries travel only to peers that follow it; following is a local setting.
 */
import type { Command } from 'commander';
import { listAreas, loadHousehold, setFollow, SyncState } from '../../engine/sync/index.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';
import { withWriter } from '../with-writer.js';

export function register(program: Command, cli: Cli): void {
  const area = program.command('area').description('areas: the named trees a household syncs');
  area
    .command('create')
    .description('create an area (a top-level directory of the mount) and follow it')
    .argument('<name>', '1-64 of a-z, 0-9 and "-"')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withWriter(cli, cmd, async (w) => {
        await w.run('area-create', { name, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
        cli.report(cmd, `created area ${name} (followed)`, { area: name, created: true, followed: true });
      });
    });
  area
    .command('list')
    .description('the areas held here, followed here, or followed by peers')
    .action(async (_opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const state = await SyncState.open(engine.store.layout.root);
        const h = await loadHousehold(engine);
        const rows = await listAreas(engine, state.data, (k) => h.get(k)?.name ?? k.slice(0, 12));
        for (const r of rows) {
          cli.report(
            cmd,
            `${r.area.padEnd(24)} ${r.followed ? 'followed' : 'not followed'}${r.held ? '' : ' (not held here)'}${r.followers.length > 0 ? `  followed by: ${r.followers.join(', ')}` : ''}`,
            r,
          );
        }
      });
    });
  for (const [verb, on] of [['follow', true], ['unfollow', false]] as const) {
    area
      .command(verb)
      .description(on ? 'receive and send this area from now on (a local setting)' : 'stop syncing this area (what is held stays)')
      .argument('<name>', 'the area')
      .action(async (name: string, _opts: unknown, cmd: Command) => {
        await setFollow(cli.globals(cmd).store, name, on);
        cli.report(cmd, `${on ? 'following' : 'no longer following'} area ${name}`, { area: name, followed: on });
      });
  }
  for (const c of area.commands) c.exitOverride();
  area.exitOverride();
}
