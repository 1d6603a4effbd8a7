/** What every projection offers: apply an event, and the sub-databases that hold its rows. */
import type { Entry, FsEvent } from '../log/index.js';
import type { Hash } from 'node:crypto';
import type { Database, Key, RootDatabase } from 'lmdb';
import type { CachedDb } from './cached-db.js';

/** Where an event sits: its entry, and its index in that entry. */
export interface ApplyContext {
  readonly entry: Entry<unknown>;
  readonly feed: string;
  readonly index: number;
  /** Events a projection derived from the one at `index` (conflict copies) are numbered 1, 2, ... */
  readonly sub?: number;
}

export interface Projection {
  readonly name: string;
  /** Local projections (inode numbers) may differ between peers holding the same entries. */
  readonly local: boolean;
  /** Applies one event inside the caller's write transaction. Must be idempotent. */
  apply(event: FsEvent, ctx: ApplyContext): void;
  /** Its write-back overlays, begun and flushed by the projection set around each batch. */
  readonly caches: ReadonlyArray<CachedDb<never, never>>;
  /** The sub-databases it owns, by name: digested and cleared by the projection set. */
  readonly dbs: ReadonlyArray<readonly [name: string, db: Database<unknown, Key>]>;
  /**
   * Digests its rows itself (else the projection set digests `dbs` as they are): rows keyed by
   * local inode numbers, with their keys named through `translate` (node ids: inode-table.ts);
   * `env` for the sub-databases it digests as stored (digest.ts digestDb).
   */
  digestInto?(h: Hash, translate: (key: string) => string, env: RootDatabase): void;
}
