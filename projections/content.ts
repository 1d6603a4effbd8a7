/**
 * File content: the write-cache view (the Puter seed). Each file has a branch: the block
 * list of its last committed version with the pending write and truncate events folded in,
 * so reads and stat see the chain at once. A commit event seals the branch as a new content
 * version, named by its version hash:
 *
 *   version hash = SHA-256("realize/version/v1\0" || size as u64 BE || block hashes...)
 *
 * A version's blocks are those of the branch at the end of the entry that committed it (its
 * history rows, history.ts), unless the entry wrote the branch again after the commit: only
 * such a version is kept as a row of its own, by hash (a row per commit cost a rebuild a put,
 * a lookup and a SHA-256 per file). gc decides which versions' blocks to keep.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { BLOCK_SIZE, ZERO_BLOCK, type FsEvent, type NodeId } from '../log/index.js';
import type { Hash } from 'node:crypto';
import { CachedDb } from './cached-db.js';
import { digestDb, digestRows } from './digest.js';
import type { HistoryReader } from './history.js';
import type { EntryNotes } from './touches.js';
import { versionedDb, type Versioning } from './versioned-db.js';
import { CommittedRow, contentRowCodec, plainEncoder, readContentSize, versionRowCodec, type EntryCommits } from './row-codec.js';
import type { ApplyContext, Projection } from './projection.js';
import type { ContentRow, HistoryRow, VersionRow } from './rows.js';

export type { ContentRow, HistoryRow, VersionRow } from './rows.js';
export { versionHash } from './version-hash.js';

const EMPTY: ContentRow = { size: 0, blocks: new Uint8Array(0), version: null, pending: 0, commits: 0 };

export function blockCount(size: number): number {
  return Math.ceil(size / BLOCK_SIZE);
}

function resized(blocks: Uint8Array, count: number): Uint8Array {
  const out = new Uint8Array(count * 32);
  out.set(blocks.byteLength <= out.byteLength ? blocks : blocks.subarray(0, out.byteLength));
  // New slots are already ZERO_BLOCK (all zero bytes).
  return out;
}

export class Content implements Projection {
  readonly name = 'content';
  readonly local = false;
  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#rows as unknown as CachedDb<never, never>, this.#rowsHistory as unknown as CachedDb<never, never>, this.#versions as unknown as CachedDb<never, never>];
  }
  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [
      ['content-rows', this.#rows.db as Database<unknown, Key>], ['content-rows-history', this.#rowsHistory.db as Database<unknown, Key>],
      ['content-versions', this.#versions.db as Database<unknown, Key>],
    ];
  }
  digestInto(h: Hash, translate: (key: string) => string, env: RootDatabase): void {
    digestRows(h, 'content-rows', this.#rowsPast.digestRows(translate));
    digestDb(h, env, 'content-versions', this.#versions.db as Database<unknown, Key>);
  }
  readonly #rows: CachedDb<ContentRow, string>;
  readonly #rowsPast: HistoryReader<ContentRow>;
  readonly #rowsHistory: CachedDb<ContentRow | null, string>;
  readonly #versions: CachedDb<VersionRow, Buffer>;
  /** The commits each entry made of each file (kept in the entry's touches row: touches.ts). */
  readonly #history: EntryNotes<EntryCommits>;
  readonly #position: () => number;
  /** The key of a node's rows (inode-table.ts keyOf: its inode number; undefined: it has none, so no rows). */
  readonly #key: (id: NodeId) => string | undefined;
  /** Every node that has a number, in id order, with its key. */
  readonly #keys: () => Iterable<[NodeId, string]>;

  /**
   * `commits`: where the commits each entry made of each file are kept (touches.ts); `nodeKey`
   * and `nodeKeys`: the keys of the nodes' rows (inode-table.ts: branches are keyed by inode number).
   */
  constructor(env: RootDatabase, versioning: Versioning, commits: EntryNotes<EntryCommits>, nodeKey: (id: NodeId) => string | undefined, nodeKeys: () => Iterable<[NodeId, string]>) {
    this.#position = versioning.position;
    this.#key = nodeKey;
    this.#keys = nodeKeys;
    const rows = versionedDb<ContentRow>(env, 'content-rows', versioning, contentRowCodec);
    this.#rows = rows.current;
    this.#rowsPast = rows.past;
    this.#rowsHistory = rows.history;
    this.#versions = new CachedDb(env.openDB({ name: 'content-versions', keyEncoding: 'binary', ...{ encoder: plainEncoder(versionRowCodec) } }), null, { log: versioning.undo, name: 'content-versions', kind: 'c' });
    this.#history = commits;
  }

  /**
   * The file's commits, oldest first (a commit changes the file's branch: read at each change
   * of it). The branch after the entry gives what its commits row leaves out (row-codec.ts
   * EntryCommits): the index of its first commit and its last commit's version.
   */
  *history(id: NodeId): Generator<HistoryRow & { readonly n: number; readonly blocks: Uint8Array | undefined }> {
    for (const { n, value } of this.rowChanges(id)) {
      const made = this.#history.at(id, n);
      if (made === undefined || value === null) continue;
      const first = value.commits - made.commits.length;
      for (let i = 0; i < made.commits.length; i++) {
        const c = made.commits[i]!;
        const last = i === made.commits.length - 1;
        const version = last ? value.version! : c.version;
        // The entry's last commit, not written over in it: the branch as the entry left it holds its blocks.
        const blocks = last && value.pending === 0 ? value.blocks : this.version(version)?.blocks;
        yield { ...c, version, n: first + i, blocks };
      }
    }
  }

  /** The file's branch as it was at position P. */
  rowAt(id: NodeId, p: number): ContentRow | undefined {
    const key = this.#key(id);
    return key === undefined ? undefined : this.#rowsPast.at(key, p);
  }

  /** Every change of the file's branch, oldest first. */
  *rowChanges(id: NodeId): Generator<{ n: number; value: ContentRow | null }> {
    const key = this.#key(id);
    if (key !== undefined) yield* this.#rowsPast.changes(key);
  }

  /** Every file with content, and its branch, in id order. */
  *rows(): Generator<[NodeId, ContentRow]> {
    for (const [id, key] of this.#keys()) {
      const row = this.#rows.get(key);
      if (row !== undefined) yield [id, row];
    }
  }

  row(id: NodeId): ContentRow | undefined {
    const key = this.#key(id);
    return key === undefined ? undefined : this.#rows.get(key);
  }

  /** A file's size, read from its branch row's stored bytes (row-codec.ts readContentSize); undefined when it cannot be read so: row(). */
  sizeOf(id: NodeId): number | undefined {
    const key = this.#key(id);
    const raw = key === undefined ? undefined : this.#rows.rawRow(key);
    return raw === undefined ? undefined : readContentSize(raw, raw.length);
  }

  #put(id: NodeId, row: ContentRow): void {
    const key = this.#key(id);
    if (key === undefined) throw new Error(`node ${id} has no inode number`);
    this.#rows.put(key, row);
  }

  version(hash: Uint8Array): VersionRow | undefined {
    return this.#versions.get(Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength));
  }

  /** Every block hash referenced by a branch, a past state of one (every version an entry ended with), or a kept version (for gc). */
  *referencedBlocks(): Generator<Uint8Array> {
    for (const [id, row] of this.rows()) {
      yield* splitBlocks(row.blocks);
      for (const { value } of this.rowChanges(id)) if (value !== null) yield* splitBlocks(value.blocks);
    }
    for (const { value } of this.#versions.getRange()) yield* splitBlocks(value.blocks);
  }

  /**
   * The branch (committed by this entry: `made` its commits here) is written over within the
   * entry: its version's blocks will not be the branch's at the entry's end, so they are kept
   * as a version row.
   */
  #keepSuperseded(row: ContentRow, made: EntryCommits | undefined): void {
    if (made === undefined || row.pending !== 0 || row.version === null) return;
    const hash = row.version;
    const key = Buffer.isBuffer(hash) ? hash : Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength);
    if (this.#versions.get(key) === undefined) this.#versions.put(key, { size: row.size, blocks: row.blocks });
  }

  #lastOf(ctx: ApplyContext): string {
    return `${this.#position()}.${ctx.index}${ctx.sub ? `.${ctx.sub}` : ''}`;
  }

  apply(event: FsEvent, ctx: ApplyContext): void {
    switch (event.type) {
      case 'create': {
        if (this.row(event.id) === undefined) this.#put(event.id, EMPTY);
        return;
      }
      case 'write': {
        const row = this.row(event.id);
        const last = this.#lastOf(ctx);
        if (row === undefined || row.last === last) return;
        this.#keepSuperseded(row, this.#history.pending(event.id));
        const count = blockCount(event.size);
        const blocks = resized(row.blocks, count);
        // An indexed loop: destructuring each [index, hash] went through the array iterator.
        const list = event.blocks;
        for (let i = 0; i < list.length; i++) {
          const b = list[i]!;
          if (b[0] < count) blocks.set(b[1], b[0] * 32);
        }
        this.#put(event.id, { size: event.size, blocks, version: row.version, pending: row.pending + 1, commits: row.commits, last });
        return;
      }
      case 'truncate': {
        const row = this.row(event.id);
        const last = this.#lastOf(ctx);
        if (row === undefined || row.last === last) return;
        this.#keepSuperseded(row, this.#history.pending(event.id));
        const count = blockCount(event.size);
        const blocks = resized(row.blocks, count);
        if (event.tail !== null && count > 0 && event.size % BLOCK_SIZE !== 0) blocks.set(event.tail, (count - 1) * 32);
        this.#put(event.id, { size: event.size, blocks, version: row.version, pending: row.pending + 1, commits: row.commits, last });
        return;
      }
      case 'commit': {
        const row = this.row(event.id);
        // Nothing pending since a commit (commits > 0: the branch has a version; not read, it may be derived).
        if (row === undefined || (row.pending === 0 && row.commits > 0)) return;
        // Its version is the hash of its size and blocks, made only when asked for (CommittedRow).
        const committed = new CommittedRow(row.size, row.blocks, 0, row.commits + 1, row.last);
        const made = this.#history.pending(event.id);
        const commit = new Commit(committed, event.time);
        this.#history.set(event.id, made === undefined ? { first: row.commits, commits: [commit] } : { first: made.first, commits: [...made.commits, commit] });
        this.#put(event.id, committed);
        return;
      }
      case 'area-create':
      case 'mkdir':
      case 'symlink':
      case 'link':
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

}

/**
 * One commit as the entry's touches row notes it (row-codec.ts EntryCommits): its version named
 * only when asked for (an entry's last commit of a file is not written there: the branch names it).
 */
class Commit implements HistoryRow {
  constructor(
    readonly row: ContentRow,
    readonly time: number,
  ) {}

  get size(): number {
    return this.row.size;
  }

  get version(): Uint8Array {
    return this.row.version!;
  }
}

export function* splitBlocks(blocks: Uint8Array): Generator<Uint8Array> {
  for (let i = 0; i + 32 <= blocks.byteLength; i += 32) yield blocks.subarray(i, i + 32);
}

export function blockAt(blocks: Uint8Array, index: number): Uint8Array {
  if ((index + 1) * 32 > blocks.byteLength) return ZERO_BLOCK;
  return blocks.subarray(index * 32, index * 32 + 32);
}
