/**
 * `realize famfs add AREA DEVICE`: the area becomes (or stays) a famfs area backed by DEVICE:
 * the device's path is recorded on this peer, and one famfs-device event names it in the log.
 */
import { EngineError } from '../engine-error.js';
import type { Engine } from '../engine.js';
import { DeviceRegistry, readSuperblock, uuidString } from './device.js';

export interface AddedDevice {
  readonly area: string;
  readonly device: string;
  readonly uuid: string;
  readonly size: number;
  /** False when the area already had this device (its path is recorded again). */
  readonly added: boolean;
}

export async function addFamfsDevice(engine: Engine, area: string, device: string, time: number): Promise<AddedDevice> {
  if (engine.projections.tree.areaRoot(area) === undefined) throw new EngineError('NOT_FOUND', `no such area: ${area}`);
  const sb = await readSuperblock(device);
  const known = engine.projections.famfs.device(sb.uuid);
  if (known !== undefined && known.area !== area) throw new EngineError('EXISTS', `device ${uuidString(sb.uuid)} already backs area ${known.area}`);
  await new DeviceRegistry(engine.store.layout.root).set(sb.uuid, device);
  if (known === undefined) await engine.appendEvents(area, [{ type: 'famfs-device', area, device: sb.uuid, size: sb.size, time }]);
  return { area, device, uuid: uuidString(sb.uuid), size: sb.size, added: known === undefined };
}
