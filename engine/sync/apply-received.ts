/**
 * The one place where replicated entries enter the store: Engine.receive appends them to the
 * replica of their feed (appendVerified refuses a bad signature, a broken chain, a gap or a
 * fork, and keeps nothing of a batch it refuses) and integrates them in the one order every
 * peer uses, rewinding the projections when an entry landed behind the applied frontier.
 */
import type { Entry, FeedId } from '../../log/index.js';
import type { Engine } from '../engine.js';

/** Appends `entries` (one feed's, in order) to the replica `feedId` and applies them; returns how many were new. */
export function applyReceived(engine: Engine, feedId: FeedId, entries: readonly Entry[]): Promise<number> {
  return engine.receive(feedId, entries);
}
