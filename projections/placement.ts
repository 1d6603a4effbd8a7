/**
 * Placement: which peer wants which paths Real (complete here) or Unreal (metadata here,
 * content fetched on demand into an evictable cache). A mark is a `placement` event in the
 * marking peer's own feed; every peer replicates and applies every peer's marks, keyed by
 * the marking peer, so one peer's marks never change another's placement (and a peer can
 * see which of the others keep a file Real). Inheritance (a node without a mark takes the
 * placement of its nearest marked ancestor) is a query over these rows and the tree, made by
 * engine/placement/resolve.ts; this projection holds the marks only:
 *
 *   `${peer}/${node id}` -> 'real' | 'unreal'      (versioned, like every projection row)
 *
 * Beside it, and not a projection (the log does not say which blocks a peer holds), two
 * tables of this peer's content cache live in the same LMDB environment, as the block index
 * does: when each cached block was last read (LRU), and to which peers each block was served
 * (evidence that a copy exists elsewhere). They are never digested nor cleared by a rebuild.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEvent, NodeId, Placement } from '../log/index.js';
import { CachedDb } from './cached-db.js';
import { versionedDb, type Versioning } from './versioned-db.js';
import type { ApplyContext, Projection } from './projection.js';

function markKey(peer: string, id: NodeId): string {
  return `${peer}/${id}`;
}

export class Placements implements Projection {
  readonly name = 'placement';
  readonly local = false;
  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#marks as unknown as CachedDb<never, never>, this.#marksHistory as unknown as CachedDb<never, never>];
  }
  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['placement-marks', this.#marks.db as Database<unknown, Key>], ['placement-marks-history', this.#marksHistory.db as Database<unknown, Key>]];
  }
  readonly #marks: CachedDb<Placement, string>;
  readonly #marksHistory: CachedDb<Placement | null, string>;

  constructor(env: RootDatabase, versioning: Versioning) {
    const marks = versionedDb<Placement>(env, 'placement-marks', versioning);
    this.#marks = marks.current;
    this.#marksHistory = marks.history;
  }

  /** The mark `peer` set on node `id` itself (not inherited), if any. */
  mark(peer: string, id: NodeId): Placement | undefined {
    return this.#marks.get(markKey(peer, id));
  }

  /** Every mark `peer` set, by node. */
  *marks(peer: string): Generator<{ id: NodeId; placement: Placement }> {
    const prefix = `${peer}/`;
    for (const { key, value } of this.#marks.getRange({ start: prefix, end: `${peer}0` })) yield { id: key.slice(prefix.length), placement: value };
  }

  /** The peers that set at least one mark. */
  peers(): string[] {
    const out: string[] = [];
    let start = '';
    for (;;) {
      let next: string | undefined;
      for (const key of this.#marks.getKeys({ start, limit: 1 })) next = key;
      if (next === undefined) return out;
      const peer = next.slice(0, next.indexOf('/'));
      out.push(peer);
      start = `${peer}0`;
    }
  }

  apply(event: FsEvent, _ctx: ApplyContext): void {
    if (event.type !== 'placement') return;
    const key = markKey(event.peer, event.id);
    if (this.#marks.get(key) === event.placement) return;
    this.#marks.put(key, event.placement);
  }
}

/** A block's cache row: when it was last read (ms), for least-recently-used eviction. */
export class CacheTable {
  readonly #db: Database<number, Buffer>;

  constructor(env: RootDatabase) {
    this.#db = env.openDB<number, Buffer>({ name: 'placement-cache', keyEncoding: 'binary' });
  }

  /** When the block was last read, or undefined when it is not in the cache. */
  get(hash: Uint8Array): number | undefined {
    return this.#db.get(Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength));
  }

  has(hash: Uint8Array): boolean {
    return this.#db.doesExist(Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength));
  }

  *entries(): Generator<[Buffer, number]> {
    for (const { key, value } of this.#db.getRange()) yield [key, value];
  }

  get count(): number {
    return this.#db.getCount();
  }

  /** Records (or refreshes) rows; written asynchronously in one batch, never blocking the caller. */
  put(rows: Iterable<readonly [Uint8Array, number]>): Promise<unknown> {
    const writes: Promise<unknown>[] = [];
    for (const [h, atime] of rows) writes.push(this.#db.put(Buffer.from(h.buffer, h.byteOffset, h.byteLength), atime));
    return Promise.all(writes);
  }

  remove(hashes: Iterable<Uint8Array>): Promise<unknown> {
    const writes: Promise<unknown>[] = [];
    for (const h of hashes) writes.push(this.#db.remove(Buffer.from(h.buffer, h.byteOffset, h.byteLength)));
    return Promise.all(writes);
  }
}

/** To which peers (keys) each block was served: a peer that asked for a block and got it holds a copy. */
export class ServedTable {
  readonly #db: Database<string[], Buffer>;

  constructor(env: RootDatabase) {
    this.#db = env.openDB<string[], Buffer>({ name: 'placement-served', keyEncoding: 'binary' });
  }

  peers(hash: Uint8Array): readonly string[] {
    return this.#db.get(Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength)) ?? [];
  }

  /** Notes that `peer` received these blocks (asynchronous, batched). */
  add(peer: string, hashes: Iterable<Uint8Array>): Promise<unknown> {
    const writes: Promise<unknown>[] = [];
    for (const h of hashes) {
      const key = Buffer.from(h.buffer, h.byteOffset, h.byteLength);
      const have = this.#db.get(key) ?? [];
      if (have.includes(peer)) continue;
      writes.push(this.#db.put(key, [...have, peer].sort()));
    }
    return Promise.all(writes);
  }
}
