/**
 * Acknowledgements: which entries each other peer holds, as it said (in its opening
 * `have` and every `ack` after). Lengths only grow. This is consensus in the seed's sense: an
 * entry of an area's feed is at consensus once every peer that follows the area holds it;
 * before that, content stays local; after it, Unreal content may be evicted and history
 * older than every peer's position compacted. Kept in the store (sync-state.ts).
 */
import { parseFeedName } from '../../log/index.js';
import type { SyncState } from './sync-state.js';

export class Acks {
  readonly #state: SyncState;

  constructor(state: SyncState) {
    this.#state = state;
  }

  /** Records that `peer` holds `length` entries of `feed`; returns true when that is news. */
  record(peer: string, feed: string, length: number): boolean {
    const acks = (this.#state.data.acks[peer] ??= {});
    if ((acks[feed] ?? 0) >= length) return false;
    acks[feed] = length;
    this.#state.touch();
    return true;
  }

  /** How many entries of `feed` `peer` is known to hold. */
  held(peer: string, feed: string): number {
    return this.#state.data.acks[peer]?.[feed] ?? 0;
  }

  /** Every feed -> length `peer` is known to hold. */
  heldBy(peer: string): Readonly<Record<string, number>> {
    return this.#state.data.acks[peer] ?? {};
  }

  /** Peers with acknowledgements. */
  peers(): string[] {
    return Object.keys(this.#state.data.acks).sort();
  }

  /** Records the areas `peer` follows. */
  setFollows(peer: string, areas: readonly string[]): void {
    const sorted = [...areas].sort();
    if (JSON.stringify(this.#state.data.peerFollows[peer]) === JSON.stringify(sorted)) return;
    this.#state.data.peerFollows[peer] = sorted;
    this.#state.touch();
  }

  follows(peer: string): readonly string[] {
    return this.#state.data.peerFollows[peer] ?? [];
  }

  /**
   * The peers among `members` that receive `feed`: every one for a household feed, else those
   * that follow its area.
   */
  followersOf(feed: string, members: readonly string[]): string[] {
    const { area, author } = parseFeedName(feed);
    const authorHex = Buffer.from(author).toString('hex');
    return members.filter((p) => p !== authorHex && (area === '' || this.follows(p).includes(area)));
  }

  /**
   * The consensus length of `feed` among `members` (other peers): how many of its entries every
   * member that receives it holds. With no such member it is the whole of `localLength`.
   */
  consensus(feed: string, members: readonly string[], localLength: number): number {
    let n = localLength;
    for (const p of this.followersOf(feed, members)) n = Math.min(n, this.held(p, feed));
    return n;
  }
}
