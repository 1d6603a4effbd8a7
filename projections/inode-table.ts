/**
 * The inode table: global node ids -> local inode numbers that fit in 32 bits (fuse-native
 * passes st_ino as 32 bits). Numbers are handed out in apply order, are stable across
 * restarts and remounts (they are rows, rebuilt identically from the same log), and are
 * never reused: should the counter ever wrap, a reused number carries a new generation.
 * Inode 1 is the mount's root, which lists the areas.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEvent, NodeId } from '../log/index.js';
import type { Projection } from './projection.js';

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
  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['inode-by-id', this.#byId as Database<unknown, Key>], ['inode-by-ino', this.#byIno as Database<unknown, Key>], ['inode-meta', this.#meta as Database<unknown, Key>]];
  }
  readonly #byId: Database<InodeRow, string>;
  readonly #byIno: Database<string, number>;
  readonly #meta: Database<number, string>;

  constructor(env: RootDatabase) {
    this.#byId = env.openDB({ name: 'inode-by-id' });
    this.#byIno = env.openDB({ name: 'inode-by-ino', keyEncoding: 'uint32' });
    this.#meta = env.openDB({ name: 'inode-meta' });
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
    while (this.#byIno.get(next) !== undefined) {
      next++;
      if (next > MAX_INO) {
        next = FIRST_INO;
        gen++;
      }
    }
    this.#byId.putSync(id, { ino: next, gen });
    this.#byIno.putSync(next, id);
    next++;
    if (next > MAX_INO) {
      next = FIRST_INO;
      gen++;
    }
    this.#meta.putSync('next', next);
    this.#meta.putSync('gen', gen);
  }

  inoOf(id: NodeId): InodeRow | undefined {
    if (id === ROOT_ID) return { ino: ROOT_INO, gen: 0 };
    return this.#byId.get(id);
  }

  idOf(ino: number): NodeId | undefined {
    if (ino === ROOT_INO) return ROOT_ID;
    return this.#byIno.get(ino);
  }

}
