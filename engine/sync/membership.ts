/**
 * Changing the household: `peer add` and `peer remove` append a signed peer-add or
 * peer-remove event to this peer's household feed (area ''), which replicates to every
 * member; the membership every peer computes from those feeds (household.ts) changes with it.
 */
import type { Engine } from '../engine.js';
import { parseAddress } from './address.js';
import { Household, peerAddEvent, peerRemoveEvent, type Member } from './household.js';
import { SyncError } from './sync-error.js';

export async function loadHousehold(engine: Engine): Promise<Household> {
  return Household.load(engine.store.feeds, engine.store.publicKey);
}

/** Adds (or renames, or re-addresses) the peer with `key`. */
export async function addPeer(engine: Engine, name: string, key: string, address: string | null): Promise<Member> {
  const k = key.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(k)) throw new SyncError('BAD_ARGUMENT', `a peer key is 64 hex digits (what \`realize id\` prints on that peer), not ${JSON.stringify(key)}`);
  if (address !== null) parseAddress(address);
  const household = await loadHousehold(engine);
  const clash = household.members().find((m) => m.name === name && m.key !== k && !m.self);
  if (clash !== undefined) throw new SyncError('BAD_ARGUMENT', `the name ${name} is taken by peer ${clash.key.slice(0, 12)}…; remove it first or choose another name`);
  let event;
  try {
    event = peerAddEvent(k, name, address, engine.env.now());
  } catch (err) {
    throw new SyncError('BAD_ARGUMENT', (err as Error).message, { cause: err });
  }
  await engine.appendEvents('', [event]);
  return { key: k, name, address, self: k === engine.store.publicKey };
}

/** Removes the peer named (or keyed) `nameOrKey`. */
export async function removePeer(engine: Engine, nameOrKey: string): Promise<Member> {
  const household = await loadHousehold(engine);
  const m = household.find(nameOrKey);
  if (m === undefined) throw new SyncError('NO_PEER', `no peer named ${JSON.stringify(nameOrKey)} in the household (see \`realize peer list\`)`);
  if (m.self) throw new SyncError('BAD_ARGUMENT', 'a peer cannot remove itself from the household');
  await engine.appendEvents('', [peerRemoveEvent(m.key, engine.env.now())]);
  return m;
}
