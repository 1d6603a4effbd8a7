/**
 * The feeds a store holds: its own (one per area, appended only by this peer) and replicas
 * of other peers' feeds. Each feed lives in `<dir>/<feed name>/`.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesEqual } from './bytes.js';
import { feedName, parseFeedName, type FeedId } from './entry.js';
import { Feed, type Recovery } from './feed.js';
import type { HybridClock } from './hlc.js';
import type { Signer } from './keys.js';
import { LogError } from './log-error.js';

export interface FeedSetOptions {
  readonly readOnly?: boolean;
  readonly signer?: Signer;
  readonly clock: HybridClock;
  readonly segmentBytes?: number;
  readonly onRecovery?: (r: Recovery) => void;
}

export class FeedSet {
  readonly dir: string;
  readonly #opts: FeedSetOptions;
  readonly #feeds = new Map<string, Feed>();
  readonly #opening = new Map<string, Promise<Feed>>();
  /** Awaited before every group write of every feed (see FeedOptions.beforeWrite). */
  beforeWrite: (() => Promise<void>) | null = null;

  private constructor(dir: string, opts: FeedSetOptions) {
    this.dir = dir;
    this.#opts = opts;
  }

  static async open(dir: string, opts: FeedSetOptions): Promise<FeedSet> {
    const set = new FeedSet(dir, opts);
    let names: string[] = [];
    try {
      names = await readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new LogError('IO', `cannot read ${dir}: ${(err as Error).message}`, { cause: err });
      if (!opts.readOnly) await mkdir(dir, { recursive: true });
    }
    try {
      for (const name of names.sort()) {
        if (name.startsWith('.')) continue;
        await set.#openFeed(parseFeedName(name), false);
      }
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  get signer(): Signer | undefined {
    return this.#opts.signer;
  }

  /** Every feed held, sorted by name. */
  list(): Feed[] {
    return [...this.#feeds.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  get(name: string): Feed | undefined {
    return this.#feeds.get(name);
  }

  /** This peer's own feed for `area`, created on first use. */
  async own(area = ''): Promise<Feed> {
    const signer = this.#opts.signer;
    if (!signer) throw new LogError('WRONG_FEED', 'this store has no identity to append with');
    return this.#openFeed({ author: signer.publicKey, area }, true);
  }

  /** A replica of another author's feed, created on first use. */
  async replica(id: FeedId): Promise<Feed> {
    if (this.#opts.signer && bytesEqual(id.author, this.#opts.signer.publicKey)) {
      throw new LogError('WRONG_FEED', `feed ${feedName(id)} is this peer's own; it is never replicated into`);
    }
    return this.#openFeed(id, true);
  }

  async #openFeed(id: FeedId, create: boolean): Promise<Feed> {
    const name = feedName(id);
    const have = this.#feeds.get(name);
    if (have) return have;
    let opening = this.#opening.get(name);
    if (!opening) {
      const own = this.#opts.signer !== undefined && bytesEqual(id.author, this.#opts.signer.publicKey);
      opening = Feed.open(join(this.dir, name), id, {
        create,
        readOnly: this.#opts.readOnly,
        clock: this.#opts.clock,
        segmentBytes: this.#opts.segmentBytes,
        onRecovery: this.#opts.onRecovery,
        beforeWrite: async () => this.beforeWrite?.(),
        ...(own ? { signer: this.#opts.signer } : {}),
      });
      this.#opening.set(name, opening);
    }
    try {
      const feed = await opening;
      this.#feeds.set(name, feed);
      return feed;
    } finally {
      this.#opening.delete(name);
    }
  }

  async close(): Promise<void> {
    for (const f of this.#feeds.values()) await f.close();
    this.#feeds.clear();
  }
}
