/**
 * The household: the peers this store syncs with, each known by its Ed25519 key. Membership
 * changes are signed events (peer-add, peer-remove) in the household feeds (area ''), so they
 * replicate like everything else; the current membership is a fold of those events in the one
 * order for everyone (hybrid logical time, feed name, sequence number). Household feeds hold a
 * handful of entries, so the fold is made in memory, again whenever a household feed grows.
 * This store's own key is always a member.
 */
import { parseFeedName, validateEvent, type Entry, type FeedSet, type PeerAdd, type PeerRemove } from '../../log/index.js';
import { SyncError } from './sync-error.js';

export interface Member {
  readonly key: string;
  readonly name: string;
  /** HOST:PORT it listens on; null for a deaf peer (it only dials out). */
  readonly address: string | null;
  /** True for this store's own key. */
  readonly self: boolean;
}

export interface RemovedPeer {
  readonly key: string;
  readonly name: string;
}

function before(a: Entry, b: Entry, fa: string, fb: string): number {
  if (a.hlc !== b.hlc) return a.hlc - b.hlc;
  if (fa !== fb) return fa < fb ? -1 : 1;
  return a.seq - b.seq;
}

export class Household {
  readonly self: string;
  readonly #members: Map<string, Member>;
  readonly #removed: Map<string, RemovedPeer>;
  /** Total length of the household feeds folded: a cheap staleness check. */
  readonly version: string;

  private constructor(self: string, members: Map<string, Member>, removed: Map<string, RemovedPeer>, version: string) {
    this.self = self;
    this.#members = members;
    this.#removed = removed;
    this.version = version;
  }

  /** Folds every household feed the store holds. */
  static async load(feeds: FeedSet, self: string): Promise<Household> {
    const all: Array<{ entry: Entry; feed: string }> = [];
    const parts: string[] = [];
    for (const feed of feeds.list()) {
      if (feed.id.area !== '') continue;
      parts.push(`${feed.name}:${feed.length}`);
      for (const entry of await feed.read(0)) all.push({ entry, feed: feed.name });
    }
    all.sort((a, b) => before(a.entry, b.entry, a.feed, b.feed));
    const members = new Map<string, Member>();
    const removed = new Map<string, RemovedPeer>();
    for (const { entry } of all) {
      for (const raw of entry.events) {
        let e;
        try {
          e = validateEvent(raw);
        } catch {
          continue;
        }
        if (e.type === 'peer-add') {
          removed.delete(e.key);
          members.set(e.key, { key: e.key, name: e.name, address: e.address ?? null, self: e.key === self });
        } else if (e.type === 'peer-remove') {
          const m = members.get(e.key);
          members.delete(e.key);
          removed.set(e.key, { key: e.key, name: m?.name ?? e.key.slice(0, 8) });
        }
      }
    }
    if (!members.has(self)) members.set(self, { key: self, name: 'self', address: null, self: true });
    return new Household(self, members, removed, parts.join(','));
  }

  /** The version string load() would give now: when it differs, load again. */
  static versionOf(feeds: FeedSet): string {
    return feeds
      .list()
      .filter((f) => f.id.area === '')
      .map((f) => `${f.name}:${f.length}`)
      .join(',');
  }

  isMember(key: string): boolean {
    return this.#members.has(key);
  }

  wasRemoved(key: string): boolean {
    return this.#removed.has(key) && !this.#members.has(key);
  }

  members(): Member[] {
    return [...this.#members.values()].sort((a, b) => (a.self !== b.self ? (a.self ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Other members (not this store). */
  peers(): Member[] {
    return this.members().filter((m) => !m.self);
  }

  get(key: string): Member | undefined {
    return this.#members.get(key);
  }

  /** A member by name, or by key (full hex, or a prefix of at least 8 hex digits naming one). */
  find(nameOrKey: string): Member | undefined {
    const byName = [...this.#members.values()].filter((m) => m.name === nameOrKey && !m.self);
    if (byName.length === 1) return byName[0];
    if (/^[0-9a-f]{8,64}$/.test(nameOrKey)) {
      const byKey = [...this.#members.values()].filter((m) => m.key.startsWith(nameOrKey));
      if (byKey.length === 1) return byKey[0];
      if (byKey.length > 1) throw new SyncError('NO_PEER', `${nameOrKey} is a prefix of more than one key`);
    }
    return undefined;
  }
}

/** The events that add and remove peers (validated as they will be on apply). */
export function peerAddEvent(key: string, name: string, address: string | null, time: number): PeerAdd {
  const e: PeerAdd = address === null ? { type: 'peer-add', key, name, time } : { type: 'peer-add', key, name, address, time };
  validateEvent(e);
  return e;
}

export function peerRemoveEvent(key: string, time: number): PeerRemove {
  const e: PeerRemove = { type: 'peer-remove', key, time };
  validateEvent(e);
  return e;
}

/** The area of a feed name ('' for a household feed). */
export function areaOf(feed: string): string {
  return parseFeedName(feed).area;
}

export function authorOf(feed: string): string {
  return feed.slice(0, 64);
}
