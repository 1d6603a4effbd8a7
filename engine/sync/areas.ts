/**
 * Areas: named trees (top-level directories of the mount). An area is created by an
 * area-create event in its own feed (author.area), and a peer receives an area's feeds only
 * if it follows the area: following is a local setting (sync-state.ts, follows.json).
 */
import { validAreaName } from '../../log/index.js';
import type { Owner } from '../commands.js';
import type { Engine } from '../engine.js';
import { SyncError } from './sync-error.js';
import { followedAreas, readFollows, writeFollows, type StateFile } from './sync-state.js';

export interface AreaRow {
  readonly area: string;
  /** Its tree is held here. */
  readonly held: boolean;
  readonly followed: boolean;
  /** Peers that said they follow it. */
  readonly followers: readonly string[];
}

function checkName(name: string): void {
  if (!validAreaName(name)) throw new SyncError('BAD_ARGUMENT', `an area name is 1-64 of a-z, 0-9 and "-", starting with a letter or digit: ${JSON.stringify(name)}`);
}

export async function createArea(engine: Engine, name: string, owner: Owner): Promise<void> {
  checkName(name);
  await engine.run({ type: 'mkdir', path: `/${name}`, mode: 0o755, owner });
  await setFollow(engine.store.layout.root, name, true);
}

export async function setFollow(storeRoot: string, name: string, on: boolean): Promise<void> {
  checkName(name);
  const f = await readFollows(storeRoot);
  f[name] = on;
  await writeFollows(storeRoot, f);
}

export async function followed(engine: Engine): Promise<Set<string>> {
  return followedAreas(await readFollows(engine.store.layout.root), heldAreas(engine));
}

export function heldAreas(engine: Engine): string[] {
  return engine.readdir('/').map((d) => d.name);
}

export async function listAreas(engine: Engine, state: StateFile, names: (key: string) => string): Promise<AreaRow[]> {
  const held = new Set(heldAreas(engine));
  const settings = await readFollows(engine.store.layout.root);
  const follows = followedAreas(settings, held);
  const all = new Set<string>([...held, ...Object.keys(settings)]);
  for (const areas of Object.values(state.peerFollows)) for (const a of areas) all.add(a);
  return [...all].sort().map((area) => ({
    area,
    held: held.has(area),
    followed: follows.has(area),
    followers: Object.entries(state.peerFollows)
      .filter(([, areas]) => areas.includes(area))
      .map(([k]) => names(k))
      .sort(),
  }));
}
