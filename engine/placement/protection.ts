/**
 * Which blocks must stay here whatever the cache budget says, and why:
 *
 *   real       the current content of a file this peer keeps Real (pinned);
 *   unacked    content this peer wrote that some peer following the area has not yet
 *              acknowledged (its entry is past the consensus of this peer's feed: acks.ts);
 *   only-copy  content no other peer is known to keep: an Unreal file that no other follower
 *              of its area keeps Real; or content written here that was never served to a
 *              follower keeping it Real (acknowledging an entry says the peer holds the entry,
 *              not yet its blocks: a copy is known to exist elsewhere once a peer that keeps
 *              the file Real has fetched the block from here).
 *
 * Everything else that is held and sits in the cache table may be evicted. The same pass
 * finds the blocks of Unreal files held here that are not in the cache table yet (content
 * that arrived while its file was Real, or written here) and hands them to the cache.
 */
import { parseFeedName, type NodeId } from '../../log/index.js';
import type { PlacementHost } from './host.js';
import { blocksNamedBy } from '../sync/block-needs.js';
import { followersOf, type PeerView } from './peer-view.js';
import { distinctBlocks } from './presence.js';
import { PlacementResolver } from './resolve.js';

export type ProtectReason = 'real' | 'unacked' | 'only-copy';

export interface ProtectionScan {
  /** hex hash -> why it stays. */
  readonly protect: Map<string, ProtectReason>;
  /** Blocks of Unreal files held here and not in the cache table: [hash, last read (ms)]. */
  readonly admit: Array<readonly [Buffer, number]>;
}

/**
 * Scans every file and this peer's own feeds. `candidates` (hex) limits the own-feed scan's
 * bookkeeping to the blocks eviction could touch.
 */
export async function scanProtection(engine: PlacementHost, view: PeerView, candidates: ReadonlySet<string>): Promise<ProtectionScan> {
  const p = engine.projections;
  const self = engine.store.publicKey;
  const resolver = new PlacementResolver(p);
  const protect = new Map<string, ProtectReason>();
  const admit: Array<readonly [Buffer, number]> = [];
  const followers = new Map<string, string[]>();
  const followersOfArea = (area: string): string[] => {
    let f = followers.get(area);
    if (f === undefined) followers.set(area, (f = followersOf(view, area)));
    return f;
  };
  /** Another follower of the file's area keeps it Real. */
  const keptElsewhere = (id: NodeId, area: string, among?: readonly string[]): boolean =>
    followersOfArea(area).some((peer) => (among === undefined || among.includes(peer)) && resolver.of(peer, id).placement === 'real');

  let n = 0;
  for (const [id, row] of [...p.content.rows()]) {
    // It runs inside the FUSE server: let the event loop breathe now and then.
    if (++n % 1000 === 0) await new Promise((r) => setImmediate(r));
    const node = p.tree.node(id);
    if (node === undefined || node.nlink === 0) continue;
    const real = resolver.of(self, id).placement === 'real';
    const elsewhere = real || keptElsewhere(id, node.area);
    for (const b of distinctBlocks(row)) {
      const k = Buffer.from(b.hash).toString('hex');
      if (real) {
        protect.set(k, 'real');
        continue;
      }
      if (!elsewhere && !protect.has(k)) protect.set(k, 'only-copy');
      if (!candidates.has(k) && engine.blocks.has(b.hash)) {
        admit.push([Buffer.from(b.hash), Math.min(node.mtime, engine.env.now())]);
      }
    }
  }

  // Content written here: past consensus it stays; before, it stays until a peer keeping it
  // Real has fetched it from here.
  for (const feed of engine.store.feeds.list()) {
    const { area } = parseFeedName(feed.name);
    if (area === '' || feed.name.slice(0, 64) !== self) continue;
    const areaFollowers = followersOfArea(area);
    let consensus = feed.length;
    for (const peer of areaFollowers) consensus = Math.min(consensus, view.held(peer, feed.name));
    for (let at = 0; at < feed.length; at += 1024) {
      const entries = await feed.read(at, Math.min(feed.length, at + 1024));
      for (const entry of entries) {
        for (const [id, h] of blocksNamedBy(entry)) {
          const k = Buffer.from(h).toString('hex');
          if (!candidates.has(k) && entry.seq < consensus) continue;
          const cur = protect.get(k);
          if (cur === 'real' || cur === 'unacked') continue;
          if (entry.seq >= consensus) {
            protect.set(k, 'unacked');
            continue;
          }
          const node = p.tree.node(id);
          const servedTo = p.served.peers(h);
          if (node === undefined || !keptElsewhere(id, node.area, servedTo)) protect.set(k, 'only-copy');
        }
      }
    }
  }
  return { protect, admit };
}
