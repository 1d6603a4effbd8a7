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
const ROOT_KEY = inodeKey(ROOT_INO, 0);
const FIRST_INO = 2;
const MAX_INO = 0xffffffff;
/** How many nodes' keys keyOf keeps at hand (a number never changes once handed out). */
const KEYS_KEPT = 65536;
/** How many numbers handed out in one batch are remembered one by one (past that, a discard forgets every key). */
const ASSIGNED_KEPT = 4096;

/**
 * The inode rows' overlay: what is discarded voids the keys handed out from it (`all` false:
 * only rows the batch wrote are gone; true: the sub-database is emptied or written around the
 * overlay); a batch that ends keeps its rows.
 */
class InodeRows extends CachedDb<InodeRow, string> {
  constructor(
    db: Database<InodeRow, string>,
    readonly onDiscard: (all: boolean) => void,
    readonly onEnd: () => void,
  ) {
    super(db);
  }

  override end(): void {
    super.end();
    this.onEnd();
  }

  override discard(): void {
    this.onDiscard(false);
    super.discard();
  }

  override markEmpty(): void {
    this.onDiscard(true);
    super.markEmpty();
  }

  override forgetEmpty(): void {
    this.onDiscard(true);
    super.forgetEmpty();
  }
}

export interface InodeRow {
  readonly ino: number;
  readonly gen: number;
}

/** An inode row kept at hand with its key. */
interface KeptRow extends InodeRow {
  readonly key: string;
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
  /**
   * The rows and keys of nodes lately asked for (a number, once handed out, stays: forgotten
   * when an apply is abandoned): a listing or an attribute fill asks for the numbers of a whole
   * directory's nodes, once from the tree's keys and once for the inode numbers themselves.
   */
  readonly #keys = new Map<string, KeptRow>();
  /**
   * Nodes numbered by the batch being applied (null: more than ASSIGNED_KEPT): a batch abandoned
   * takes back only rows it wrote, so a discard forgets only their keys. (Forgetting every key
   * at each discard, as before, left a mount's creates, whose first in a directory is applied
   * again after a discard, reading most inode rows again.)
   */
  #assigned: NodeId[] | null = [];
  /**
   * The last node asked for and its row: an event's projections ask for the same node's key
   * several times (its record, its branch, its directory entry), most often with the very
   * string the event holds, which compares without a lookup.
   */
  #lastId: string | undefined = undefined;
  #last: KeptRow | undefined = undefined;

  constructor(env: RootDatabase) {
    this.#byId = new InodeRows(env.openDB({ name: 'inode-by-id', ...idKeyOptions, ...{ encoder: plainEncoder(inodeRowCodec) } }), (all) => this.#forget(all), () => (this.#assigned = []));
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
    this.#keep(id, { ino: next, gen, key: inodeKey(next, gen) });
    if (this.#assigned !== null && this.#assigned.length < ASSIGNED_KEPT) this.#assigned.push(id);
    else this.#assigned = null;
    next++;
    if (next > MAX_INO) {
      next = FIRST_INO;
      gen++;
    }
    this.#meta.put('next', next);
    this.#meta.put('gen', gen);
  }

  /** Forgets the keys of nodes the batch numbered (all: every key). */
  #forget(all: boolean): void {
    if (all || this.#assigned === null) this.#keys.clear();
    else for (const id of this.#assigned) this.#keys.delete(id);
    this.#assigned = [];
    this.#lastId = undefined;
    this.#last = undefined;
  }

  inoOf(id: NodeId): InodeRow | undefined {
    if (id === ROOT_ID) return { ino: ROOT_INO, gen: 0 };
    if (id === this.#lastId) return this.#last;
    return this.#keys.get(id) ?? this.#kept(id);
  }

  /** The key of node `id`'s rows (key-codec.ts inodeKey; undefined: it has no number, so no rows). */
  keyOf(id: NodeId): string | undefined {
    if (id === ROOT_ID) return ROOT_KEY;
    if (id === this.#lastId) return this.#last?.key;
    const kept = this.#keys.get(id) ?? this.#kept(id);
    if (kept !== undefined) {
      this.#lastId = id;
      this.#last = kept;
    }
    return kept?.key;
  }

  /** Node `id`'s row read and kept at hand with its key (undefined: it has no number). */
  #kept(id: NodeId): KeptRow | undefined {
    const row = this.#byId.get(id);
    if (row === undefined) return undefined;
    return this.#keep(id, { ino: row.ino, gen: row.gen, key: inodeKey(row.ino, row.gen) });
  }

  #keep(id: NodeId, kept: KeptRow): KeptRow {
    if (this.#keys.size >= KEYS_KEPT) this.#keys.clear();
    this.#keys.set(id, kept);
    this.#lastId = id;
    this.#last = kept;
    return kept;
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
