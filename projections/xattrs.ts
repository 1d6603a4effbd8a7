/** Extended attributes: (node id, name) -> value. */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEvent, NodeId } from '../log/index.js';
import { CachedDb } from './cached-db.js';
import type { HistoryReader } from './history.js';
import { versionedDb, type Versioning } from './versioned-db.js';
import type { ApplyContext, Projection } from './projection.js';

export class Xattrs implements Projection {
  readonly name = 'xattrs';
  readonly local = false;
  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#db as unknown as CachedDb<never, never>, this.#dbHistory as unknown as CachedDb<never, never>];
  }
  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['xattrs', this.#db.db as Database<unknown, Key>], ['xattrs-history', this.#dbHistory.db as Database<unknown, Key>]];
  }
  readonly #db: CachedDb<Uint8Array, string>;
  readonly #dbPast: HistoryReader<Uint8Array>;
  readonly #dbHistory: CachedDb<Uint8Array | null, string>;

  constructor(env: RootDatabase, versioning: Versioning) {
    const db = versionedDb<Uint8Array>(env, 'xattrs', versioning);
    this.#db = db.current;
    this.#dbPast = db.past;
    this.#dbHistory = db.history;
  }

  get(id: NodeId, name: string): Uint8Array | undefined {
    return this.#db.get(`${id}/${name}`);
  }

  list(id: NodeId): string[] {
    const prefix = `${id}/`;
    const out: string[] = [];
    for (const key of this.#db.getKeys({ start: prefix, end: `${id}0` })) out.push(key.slice(prefix.length));
    return out;
  }

  getAt(id: NodeId, name: string, p: number): Uint8Array | undefined {
    return this.#dbPast.at(`${id}/${name}`, p);
  }

  listAt(id: NodeId, p: number): string[] {
    const prefix = `${id}/`;
    return [...this.#dbPast.rangeAt(prefix, p)].map(([k]) => k.slice(prefix.length));
  }

  apply(event: FsEvent, _ctx: ApplyContext): void {
    switch (event.type) {
      case 'setxattr':
        this.#db.put(`${event.id}/${event.name}`, event.value);
        return;
      case 'removexattr':
        this.#db.remove(`${event.id}/${event.name}`);
        return;
      case 'area-create':
      case 'create':
      case 'mkdir':
      case 'symlink':
      case 'link':
      case 'write':
      case 'truncate':
      case 'commit':
      case 'rename':
      case 'unlink':
      case 'rmdir':
      case 'setattr':
      case 'famfs-alloc':
      case 'famfs-free':
      case 'famfs-device':
      case 'peer-add':
      case 'peer-remove':
      case 'placement':
        return;
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${String((never as FsEvent).type)}`);
      }
    }
  }

}
