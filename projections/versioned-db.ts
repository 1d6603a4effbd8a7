/**
 * A sub-database whose every change is also kept as a history row (history.ts), so the
 * projection can answer "as it was at position P" with an index lookup.
 */
import type { RootDatabase } from 'lmdb';
import { CachedDb } from './cached-db.js';
import { HistoryReader } from './history.js';

/** The apply position of the entry being applied (1 for the first entry ever applied). */
export type PositionClock = () => number;

export interface VersionedDb<V> {
  readonly current: CachedDb<V, string>;
  readonly history: CachedDb<V | null, string>;
  readonly past: HistoryReader<V>;
}

export function versionedDb<V>(env: RootDatabase, name: string, position: PositionClock): VersionedDb<V> {
  const history = new CachedDb<V | null, string>(env.openDB({ name: `${name}-history` }));
  const current = new CachedDb<V, string>(env.openDB({ name }), { db: history as CachedDb<unknown, string>, position });
  return { current, history, past: new HistoryReader<V>(history.db) };
}
