/** `realize log verify`: every feed of the store, every entry. */
import { verifyFeed, type FeedProblem } from '../log/index.js';
import type { Store } from './store.js';

export interface VerifyProgress {
  readonly feed: string;
  readonly done: number;
  readonly total: number;
}

export interface VerifyReport {
  readonly feeds: number;
  readonly entries: number;
  readonly problem: FeedProblem | null;
}

export async function verifyStore(store: Store, onProgress?: (p: VerifyProgress) => void): Promise<VerifyReport> {
  let entries = 0;
  const feeds = store.feeds.list();
  for (const feed of feeds) {
    const problem = await verifyFeed(feed, (done) => onProgress?.({ feed: feed.name, done, total: feed.length }));
    if (problem) return { feeds: feeds.length, entries: entries + problem.seq, problem };
    entries += feed.length;
  }
  return { feeds: feeds.length, entries, problem: null };
}
