/**
 * What this peer knows of the others, as eviction needs it: who they are, which areas they
 * follow, and how much of each feed they acknowledged holding (engine/sync/acks.ts). Taken
 * from a running sync node when there is one (fresh acknowledgements), else read from the
 * store (<store>/sync/state.json and the household feeds) as the last sync left them.
 */
import type { PlacementHost } from './host.js';
import { Acks } from '../sync/acks.js';
import { Household } from '../sync/household.js';
import { SyncState } from '../sync/sync-state.js';

export interface PeerView {
  /** The other members of the household (keys). */
  peers(): readonly string[];
  /** The areas `peer` said it follows. */
  follows(peer: string): readonly string[];
  /** How many entries of `feed` `peer` acknowledged holding. */
  held(peer: string, feed: string): number;
}

/** What a sync node offers (engine/sync/session.ts SessionHost). */
export interface PeerViewHost {
  readonly acks: Acks;
  household(): Household;
}

export function viewOfHost(host: PeerViewHost): PeerView {
  return {
    peers: () => host.household().peers().map((m) => m.key),
    follows: (p) => host.acks.follows(p),
    held: (p, feed) => host.acks.held(p, feed),
  };
}

export async function viewFromStore(engine: PlacementHost): Promise<PeerView> {
  const acks = new Acks(await SyncState.open(engine.store.layout.root));
  const household = await Household.load(engine.store.feeds, engine.store.publicKey);
  return viewOfHost({ acks, household: () => household });
}

/** The other peers that follow `area`. */
export function followersOf(view: PeerView, area: string): string[] {
  return view.peers().filter((p) => view.follows(p).includes(area));
}
