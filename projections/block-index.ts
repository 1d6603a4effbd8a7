/**
 * Where each content block is stored: hash -> location in a pack file. Not a projection of
 * the log (blocks are not in the log): the block store rebuilds it by scanning its packs, so
 * it is left out of projection digests. It lives in the projections' LMDB environment because
 * projections/ is the single owner of that environment.
 */
import type { Database, RootDatabase } from 'lmdb';

export interface BlockLocation {
  readonly pack: number;
  readonly offset: number;
  /** Bytes in the pack (after compression). */
  readonly stored: number;
  /** Bytes of content. */
  readonly size: number;
  /** 0 = stored as is, 1 = deflate-raw. */
  readonly codec: number;
}

export class BlockIndex {
  readonly #env: RootDatabase;
  readonly #db: Database<BlockLocation, Buffer>;

  constructor(env: RootDatabase) {
    this.#env = env;
    this.#db = env.openDB<BlockLocation, Buffer>({ name: 'block-index', keyEncoding: 'binary' });
  }

  get(hash: Uint8Array): BlockLocation | undefined {
    return this.#db.get(Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength));
  }

  has(hash: Uint8Array): boolean {
    return this.#db.doesExist(Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength));
  }

  /** Records many locations in one transaction. */
  putMany(rows: ReadonlyArray<readonly [Uint8Array, BlockLocation]>): void {
    this.#env.transactionSync(() => {
      for (const [h, loc] of rows) this.#db.putSync(Buffer.from(h.buffer, h.byteOffset, h.byteLength), loc);
    });
  }

  removeMany(hashes: readonly Uint8Array[]): void {
    this.#env.transactionSync(() => {
      for (const h of hashes) this.#db.removeSync(Buffer.from(h.buffer, h.byteOffset, h.byteLength));
    });
  }

  *entries(): Generator<[Buffer, BlockLocation]> {
    for (const { key, value } of this.#db.getRange()) yield [key, value];
  }

  get count(): number {
    return this.#db.getCount();
  }

  clear(): void {
    this.#db.clearSync();
  }
}
