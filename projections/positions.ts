/**
 * Apply positions: the n-th entry applied (n = 1, 2, ...) and where it came from. Every
 * history row is keyed by n, so a position a user names (an entry of a feed, a wall time, a
 * tag) is turned into an n here, and the past is read at that n.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { hlcWallMs, type Hlc } from '../log/index.js';
import { pad } from './history.js';

export interface PositionRow {
  readonly feed: string;
  readonly seq: number;
  readonly hlc: Hlc;
  /** The entry's hash. */
  readonly hash: Uint8Array;
}

export class Positions {
  readonly #byN: Database<PositionRow, number>;
  readonly #byFeed: Database<number, string>;
  readonly #meta: Database<number, string>;
  #applied: number;
  /** The last row written or read: applying an entry asks for its own row once per event (conflict-copies.ts). */
  #recent: { n: number; row: PositionRow } | null = null;
  /** The head moved since its row was written (next() without flush()). */
  #unwritten = false;

  constructor(env: RootDatabase) {
    this.#byN = env.openDB({ name: 'positions' });
    this.#byFeed = env.openDB({ name: 'positions-by-feed' });
    this.#meta = env.openDB({ name: 'positions-meta' });
    this.#applied = this.#meta.get('applied') ?? 0;
  }

  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [
      ['positions', this.#byN as Database<unknown, Key>],
      ['positions-by-feed', this.#byFeed as Database<unknown, Key>],
      ['positions-meta', this.#meta as Database<unknown, Key>],
    ];
  }

  /** How many entries have been applied: the head position. */
  get applied(): number {
    return this.#applied;
  }

  /**
   * Records the next position (inside the apply transaction) and returns it. The head row
   * is written by flush(), once per batch, in the same transaction.
   */
  next(row: PositionRow): number {
    const n = this.#applied + 1;
    this.#byN.putSync(n, row);
    this.#byFeed.putSync(`${row.feed}/${pad(row.seq)}`, n);
    this.#applied = n;
    this.#unwritten = true;
    this.#recent = { n, row };
    return n;
  }

  /** Writes the head row after next() (inside the same write transaction). */
  flush(): void {
    if (!this.#unwritten) return;
    this.#meta.putSync('applied', this.#applied);
    this.#unwritten = false;
  }

  row(n: number): PositionRow | undefined {
    if (this.#recent?.n === n) return this.#recent.row;
    const row = this.#byN.get(n);
    if (row !== undefined) this.#recent = { n, row };
    return row;
  }

  /** The position at which entry `seq` of `feed` was applied. */
  of(feed: string, seq: number): number | undefined {
    return this.#byFeed.get(`${feed}/${pad(seq)}`);
  }

  /** The last position whose entry's wall time is at or before `ms` (0 when none is). */
  atTime(ms: number): number {
    let lo = 0;
    let hi = this.#applied;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      const row = this.#byN.get(mid);
      if (row !== undefined && hlcWallMs(row.hlc) <= ms) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Forgets everything (a rebuild starts counting again). */
  reset(): void {
    this.#applied = 0;
    this.#unwritten = false;
    this.#recent = null;
  }

  /** Drops every position after n0 (inside a write transaction); returns the rows dropped, newest first. */
  truncate(n0: number): PositionRow[] {
    const dropped: PositionRow[] = [];
    for (let n = this.#applied; n > n0; n--) {
      const row = this.#byN.get(n);
      if (row === undefined) continue;
      dropped.push(row);
      this.#byN.removeSync(n);
      this.#byFeed.removeSync(`${row.feed}/${pad(row.seq)}`);
    }
    this.#meta.putSync('applied', n0);
    this.#applied = n0;
    this.#unwritten = false;
    this.#recent = null;
    return dropped;
  }

  /** Re-reads the head from disk (after an aborted transaction). */
  reload(): void {
    this.#applied = this.#meta.get('applied') ?? 0;
    this.#unwritten = false;
    this.#recent = null;
  }
}
