/**
 * The one place where replicated entries enter the store: they are appended to the replica
 * of their feed (appendVerified refuses a bad signature, a broken chain, a gap or a fork, and
 * keeps nothing of a batch it refuses) and applied to the projections.
 *
 * Until the engine offers `engine.receive(entries)` (which will apply in the one order for
 * everyone, rewinding when an entry lands behind the applied frontier) this is a thin
 * wrapper around appendVerified + catchUp; swap the body for `engine.receive` when it lands.
 * Calls are serialised per engine, so catch-ups never interleave.
 */
import type { Entry, FeedId } from '../../log/index.js';
import { catchUp } from '../../projections/index.js';
import type { Engine } from '../engine.js';

const queues = new WeakMap<Engine, Promise<unknown>>();

/** Appends `entries` (one feed's, in order) to the replica `feedId` and applies them; returns how many were new. */
export function applyReceived(engine: Engine, feedId: FeedId, entries: readonly Entry[]): Promise<number> {
  const prev = queues.get(engine) ?? Promise.resolve();
  const next = prev.then(async () => {
    const feed = await engine.store.feeds.replica(feedId);
    const fresh = await feed.appendVerified(entries);
    if (fresh > 0) await catchUp(engine.projections, engine.store.feeds);
    return fresh;
  });
  queues.set(engine, next.catch(() => undefined));
  return next;
}
