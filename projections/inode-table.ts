/**
 * The inode table: global node ids -> local inode numbers that fit in 32 bits (fuse-native
 * passes st_ino as 32 bits). Numbers are handed out in apply order from a counter, so they
 * are stable across restarts and remounts (they are rows, rebuilt identically from the same
 * log) and never reused while the counter runs; should it ever wrap past 2^32, numbers come
 * round again with the next generation number. Inode 1 is the mount's root (the areas).
 * The mount is path-based, so no inode -> id index is kept.
 *
 * The tree's and the content's rows are keyed by inode number (keyOf: key-codec.ts inodeKey),
 * a node's id read here first; their digests name nodes by id again (idsByKey), so they stay
 * comparable between peers that numbered the nodes differently.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEvent, NodeId } from '../log/index.js';
import { CachedDb } from './cached-db.js';
import { idKeyOptions, inodeKey } from './key-codec.js';
import type { Projection } from './projection.js';
import { inodeRowCodec, plainEncoder } from './row-codec.js';

export const ROOT_INO = 1;
export const ROOT_ID: NodeId = 'root';
const FIRST_INO = 2;
const MAX_INO = 0xffffffff;
/** How many nodes' keys keyOf keeps at hand (a number never changes once handed out). */
const KEYS_KEPT = 65536;

/** The inode rows' overlay: what is discarded voids the keys handed out from it. */
class InodeRows extends CachedDb<InodeRow, string> {
  constructor(
    db: Database<InodeRow, string>,
    readonly onDiscard: () => void,
  ) {
    super(db);
  }

  override discard(): void {
    this.onDiscard();
    super.discard();
  }
}

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
  /** Keys of nodes lately asked for (a number, once handed out, stays: forgotten when an apply is abandoned). */
  readonly #keys = new Map<string, string>();
  /**
   * The last node asked for and its key: an event's projections ask for the same node's key
   * several times (its record, its branch, its directory entry), most often with the very
   * string the event holds, which compares without a lookup.
   */
  #lastId: string | undefined = undefined;
  #lastKey: string | undefined = undefined;

  constructor(env: RootDatabase) {
    this.#byId = new InodeRows(env.openDB({ name: 'inode-by-id', ...idKeyOptions, ...{ encoder: plainEncoder(inodeRowCodec) } }), () => this.#forgetKeys());
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
    // The node's projections ask for its key next (tree, content): kept at hand now.
    const key = inodeKey(next, gen);
    if (this.#keys.size >= KEYS_KEPT) this.#keys.clear();
    this.#keys.set(id, key);
    this.#lastId = id;
    this.#lastKey = key;
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

  /** The key of node `id`'s rows (key-codec.ts inodeKey; undefined: it has no number, so no rows). */
  keyOf(id: NodeId): string | undefined {
    if (id === this.#lastId) return this.#lastKey;
    let key = this.#keys.get(id);
    if (key === undefined) {
      const row = this.inoOf(id);
      if (row === undefined) return undefined;
      key = inodeKey(row.ino, row.gen);
      if (this.#keys.size >= KEYS_KEPT) this.#keys.clear();
      this.#keys.set(id, key);
    }
    this.#lastId = id;
    this.#lastKey = key;
    return key;
  }

  #forgetKeys(): void {
    this.#keys.clear();
    this.#lastId = undefined;
    this.#lastKey = undefined;
  }

  /** Every node that has a number, in id order, with its key. */
  *keys(): Generator<[id: NodeId, key: string]> {
    for (const { key, value } of this.#byId.getRange()) yield [key, inodeKey(value.ino, value.gen)];
  }

  /** Node ids by key (key-codec.ts inodeKey): what the digests name nodes by. */
  idsByKey(): Map<string, NodeId> {
    const out = new Map<string, NodeId>();
    for (const [id, key] of this.keys()) out.set(key, id);
    return out;
  }


}
