/**
 * One round of `realize sync`: dial a named member (or every member with an address) and
 * sync until both sides hold what the other had. The CLI runs it itself when the store is
 * free; a mount or `realize serve` holding the store runs it for the CLI with its own node
 * (engine/control/ops.ts), so both ways behave alike.
 */
import type { Engine } from '../engine.js';
import type { Member } from './household.js';
import { loadHousehold } from './membership.js';
import type { SessionStats } from './session.js';
import { SyncError } from './sync-error.js';
import { SyncNode } from './sync-node.js';

/** How the sync with one member ended. */
export type SyncOutcome =
  | { readonly peer: string; readonly key: string; readonly ok: true; readonly stats: SessionStats }
  | { readonly peer: string; readonly key: string; readonly ok: false; readonly error: string };

/** The members `realize sync [PEER]` dials: PEER (a name or key) or every member with an address. */
export async function syncTargets(engine: Engine, peer: string | null): Promise<Member[]> {
  const h = await loadHousehold(engine);
  if (peer !== null) {
    const m = h.find(peer);
    if (m === undefined || m.self) throw new SyncError('NO_PEER', `no peer named ${JSON.stringify(peer)} in the household (see \`realize peer list\`)`);
    if (m.address === null) throw new SyncError('NO_PEER', `peer ${m.name} is deaf (it has no address): it has to dial this peer`);
    return [m];
  }
  const targets = h.peers().filter((m) => m.address !== null);
  if (targets.length === 0) throw new SyncError('NO_PEER', 'no member of the household has an address to dial (add one with `realize peer add NAME KEY --address HOST:PORT`)');
  return targets;
}

/**
 * Syncs once with each target, one after the other, with `node` (a running node's own, or a
 * short-lived one started here and closed at the end). A member that cannot be reached is an
 * outcome, not an error: the others are still synced.
 */
export async function syncOnce(engine: Engine, targets: readonly Member[], opts: { node?: SyncNode | null } = {}): Promise<SyncOutcome[]> {
  const own = opts.node ?? null;
  const node = own ?? (await SyncNode.start(engine, { dial: false }));
  const out: SyncOutcome[] = [];
  try {
    for (const m of targets) {
      try {
        const stats = await node.syncWith({ key: m.key, address: m.address! });
        out.push({ peer: m.name, key: m.key, ok: true, stats });
      } catch (err) {
        if (!(err instanceof SyncError)) throw err;
        out.push({ peer: m.name, key: m.key, ok: false, error: err.message });
      }
    }
  } finally {
    if (own === null) await node.close();
  }
  return out;
}
