/**
 * `realize status`, per peer: connected or not (from live.json, written by a running
 * `realize serve`), and how far behind each side is: the entries (and their bytes) of feeds
 * both follow that this store holds and the peer has not acknowledged, and the entries the
 * peer said it held that this store lacks.
 */
import { parseFeedName, type FeedSet } from '../../log/index.js';
import type { Household } from './household.js';
import type { LiveFile, StateFile } from './sync-state.js';
import { processAlive } from '../store-lock.js';

export interface PeerStatus {
  readonly key: string;
  readonly name: string;
  readonly address: string | null;
  /** null: no `realize serve` is running for this store, so no connection can be. */
  readonly connected: boolean | null;
  readonly lastSeen: number | null;
  readonly follows: readonly string[];
  /** What this store holds that the peer has not acknowledged. */
  readonly peerBehind: { readonly entries: number; readonly bytes: number };
  /** What the peer held, when last seen, that this store lacks. */
  readonly selfBehind: { readonly entries: number };
}

/** Bytes of the records [from, to) of a feed, read in chunks. */
async function recordBytes(feeds: FeedSet, name: string, from: number, to: number): Promise<number> {
  const feed = feeds.get(name);
  if (feed === undefined) return 0;
  let n = 0;
  for (let at = from; at < to; at += 4096) {
    for (const r of await feed.readRecords(at, Math.min(to, at + 4096))) n += r.byteLength;
  }
  return n;
}

export async function syncStatus(feeds: FeedSet, household: Household, state: StateFile, live: LiveFile | null, follows: ReadonlySet<string>): Promise<PeerStatus[]> {
  const running = live !== null && live.pid > 0 && processAlive(live.pid) ? live : null;
  const out: PeerStatus[] = [];
  for (const m of household.peers()) {
    const theirFollows = state.peerFollows[m.key] ?? [];
    const both = (area: string): boolean => area === '' || (follows.has(area) && theirFollows.includes(area));
    let entries = 0;
    let bytes = 0;
    for (const f of feeds.list()) {
      if (!both(f.id.area) || f.name.startsWith(m.key)) continue;
      const acked = state.acks[m.key]?.[f.name] ?? 0;
      if (acked < f.length) {
        entries += f.length - acked;
        bytes += await recordBytes(feeds, f.name, acked, f.length);
      }
    }
    let lack = 0;
    const seen = state.seen[m.key];
    for (const [name, n] of Object.entries(seen?.feeds ?? {})) {
      if (name.startsWith(household.self)) continue;
      if (!both(parseFeedName(name).area)) continue;
      lack += Math.max(0, n - (feeds.get(name)?.length ?? 0));
    }
    out.push({
      key: m.key,
      name: m.name,
      address: m.address,
      connected: running === null ? null : running.peers[m.key]?.connected === true,
      lastSeen: seen?.at ?? null,
      follows: theirFollows,
      peerBehind: { entries, bytes },
      selfBehind: { entries: lack },
    });
  }
  return out;
}
