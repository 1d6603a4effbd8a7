/** `realize famfs add AREA DEVICE`: the area becomes (or stays) a famfs area backed by DEVICE: one famfs-device event. */
import type { Command } from 'commander';
import { DeviceRegistry, EngineError, readSuperblock, uuidString } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';

export function register(famfs: Command, cli: Cli): void {
  famfs
    .command('add')
    .description('add a famfs device (made with `famfs mkfs`) to an area: its files get their space as extents of it')
    .argument('<area>', 'the area')
    .argument('<device>', 'the device or file holding a famfs superblock')
    .action(async (area: string, device: string, _opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, {}, async (engine) => {
        if (engine.projections.tree.areaRoot(area) === undefined) throw new EngineError('NOT_FOUND', `no such area: ${area}`);
        const sb = await readSuperblock(device);
        const known = engine.projections.famfs.device(sb.uuid);
        if (known !== undefined && known.area !== area) throw new EngineError('EXISTS', `device ${uuidString(sb.uuid)} already backs area ${known.area}`);
        await new DeviceRegistry(engine.store.layout.root).set(sb.uuid, device);
        if (known === undefined) await engine.appendEvents(area, [{ type: 'famfs-device', area, device: sb.uuid, size: sb.size, time: cli.env.now() }]);
        cli.report(cmd, `${known ? 'found' : 'added'} famfs device ${uuidString(sb.uuid)} (${device}, ${sb.size} bytes) ${known ? 'in' : 'to'} area ${area}`, {
          area, device, uuid: uuidString(sb.uuid), size: sb.size, added: known === undefined,
        });
      });
    });
}
