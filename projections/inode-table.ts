/**
 * The inode table: global node ids -> local inode numbers that fit in 32 bits (fuse-native
 * passes st_ino as 32 bits). Numbers are handed out in apply order from a counter, so they
 * are stable across restarts and remounts (they are rows, rebuilt identically from the same
 * log) and never reused while the counter runs; should it ever wrap past 2^32, numbers come
 * round again with the next generation number. Inode 1 is the mount's root (the areas).
 * The mount is path-based, so no inode -> id index is kept.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEvent, NodeId } from '../log/index.js';
import { CachedDb } from './cached-db.js';
import { idKeyOptions } from './key-codec.js';
import type { Projection } from './projection.js';
import { inodeRowCodec, plainEncoder } from './row-codec.js';

export const ROOT_INO = 1;
export const ROOT_ID: NodeId = 'root';
const FIRST_INO = 2;
const MAX_INO = 0xffffffff;

export interface InodeRow {
  readonly ino: number;
  readonly gen: number;
}

export class InodeTable implements Projection {
  readonly name = 'inodes';
  readonly local = true;
  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#byId as unknown as CachedDb<never, never>, this.#meta as unknown as CachedDb<never, never>];
  }
  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['inode-by-id', this.#byId.db as Database<unknown, Key>], ['inode-meta', this.#meta.db as Database<unknown, Key>]];
  }
  readonly #byId: CachedDb<InodeRow, string>;
  readonly #meta: CachedDb<number, string>;

  constructor(env: RootDatabase) {
    this.#byId = new CachedDb(env.openDB({ name: 'inode-by-id', ...idKeyOptions, ...{ encoder: plainEncoder(inodeRowCodec) } }));
    this.#meta = new CachedDb(env.openDB({ name: 'inode-meta' }));
  }

  apply(event: FsEvent): void {
    switch (event.type) {
      case 'area-create':
        this.#assign(event.root);
        return;
      case 'create':
      case 'mkdir':
      case 'symlink':
        this.#assign(event.id);
        return;
      case 'link':
      case 'write':
      case 'truncate':
      case 'commit':
      case 'rename':
      case 'unlink':
      case 'rmdir':
      case 'setattr':
      case 'setxattr':
      case 'removexattr':
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

  #assign(id: NodeId): void {
    if (this.#byId.get(id) !== undefined) return;
    let next = this.#meta.get('next') ?? FIRST_INO;
    let gen = this.#meta.get('gen') ?? 0;
    this.#byId.put(id, { ino: next, gen });
    next++;
    if (next > MAX_INO) {
      next = FIRST_INO;
      gen++;
    }
    this.#meta.put('next', next);
    this.#meta.put('gen', gen);
  }

  inoOf(id: NodeId): InodeRow | undefined {
    if (id === ROOT_ID) return { ino: ROOT_INO, gen: 0 };
    return this.#byId.get(id);
  }


}
