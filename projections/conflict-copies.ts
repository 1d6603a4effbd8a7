/**
 * Concurrent changes to one file keep both versions. When an entry changes a file's content
 * and its author had not seen the entry that last changed it (the entry's heads say so),
 * the two changes are concurrent: the version first in the one order stays at the path, and
 * the later author's change goes to a conflict copy beside it, named
 * `name.conflict-PEER-TIME.ext`. The copy starts from the content that author last saw of
 * the file, so nothing of either side is lost. Further concurrent changes by the same author
 * land in the same copy. `realize conflicts` lists the copies.
 */
import { createHash } from 'node:crypto';
import type { Database, Key, RootDatabase } from 'lmdb';
import { ZERO_BLOCK, type FsEvent, type NodeId } from '../log/index.js';
import type { CachedDb } from './cached-db.js';
import type { Content, ContentRow } from './content.js';
import type { Positions } from './positions.js';
import { lastPosition } from './row-codec.js';
import type { ApplyContext, Projection } from './projection.js';
import { conflictNames, type Tree } from './tree.js';
import { versionedDb, type Versioning } from './versioned-db.js';

export interface ConflictRow {
  /** The file the copy was split from. */
  readonly of: NodeId;
  /** The author whose change went to the copy. */
  readonly feed: string;
  readonly time: number;
}

type ContentEvent = Extract<FsEvent, { type: 'write' | 'truncate' | 'commit' }>;

export class ConflictCopies implements Projection {
  readonly name = 'conflicts';
  readonly local = false;
  readonly #rows: CachedDb<ConflictRow, string>;
  readonly #history: CachedDb<ConflictRow | null, string>;

  constructor(
    env: RootDatabase,
    versioning: Versioning,
    private readonly tree: Tree,
    private readonly content: Content,
    private readonly positions: Positions,
  ) {
    const v = versionedDb<ConflictRow>(env, 'conflicts', versioning);
    this.#rows = v.current;
    this.#history = v.history;
  }

  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#rows as unknown as CachedDb<never, never>, this.#history as unknown as CachedDb<never, never>];
  }

  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [
      ['conflicts', this.#rows.db as Database<unknown, Key>],
      ['conflicts-history', this.#history.db as Database<unknown, Key>],
    ];
  }

  /** Every conflict copy: its id and what it was split from. */
  *list(): Generator<[NodeId, ConflictRow]> {
    for (const { key, value } of this.#rows.getRange()) yield [key, value];
  }

  apply(): void {
    // Conflicts are recorded while events are resolved (resolve()), not applied.
  }

  /**
   * The events that carry out `event` of entry ctx: null when it is carried out as it is (most
   * events: no array made for them), else its redirection to a conflict copy.
   */
  resolve(event: FsEvent, ctx: ApplyContext): FsEvent[] | null {
    if (event.type !== 'write' && event.type !== 'truncate' && event.type !== 'commit') return null;
    const row = this.content.row(event.id);
    const writer = this.#writerOf(row?.last);
    if (row === undefined || writer === undefined || writer.feed === ctx.feed) return null;
    const heads = new Map(ctx.entry.heads);
    if ((heads.get(writer.feed) ?? 0) > writer.seq) return null;
    // Concurrent: the author of this entry had not seen the last change of the file.
    const copy = conflictId(event.id, ctx.feed, writer.feed, writer.seq);
    if (this.tree.node(copy) !== undefined) return [retarget(event, copy)];
    const node = this.tree.node(event.id);
    const parent = node?.parent === undefined ? undefined : this.tree.node(node.parent);
    if (node === undefined || node.name === undefined || parent === undefined || parent.kind !== 'dir' || parent.nlink === 0) return null;
    const name = conflictNames(node.name, copy, ctx.entry.author, event.time).find((n) => this.tree.child(node.parent!, n) === undefined);
    if (name === undefined) return null;
    this.#rows.put(copy, { of: event.id, feed: ctx.feed, time: event.time });
    const base = this.#seenBy(event.id, ctx.feed, heads);
    const time = event.time;
    const out: FsEvent[] = [{ type: 'create', id: copy, parent: node.parent!, name, mode: node.mode, uid: node.uid, gid: node.gid, time }];
    if (base !== undefined && base.size > 0) {
      const blocks: Array<readonly [number, Uint8Array]> = [];
      for (let i = 0; i * 32 < base.blocks.byteLength; i++) {
        const h = base.blocks.subarray(i * 32, i * 32 + 32);
        if (Buffer.compare(h, ZERO_BLOCK) !== 0) blocks.push([i, h] as const);
      }
      out.push(blocks.length > 0 ? { type: 'write', id: copy, size: base.size, blocks, time } : { type: 'truncate', id: copy, size: base.size, tail: null, time });
    }
    out.push(retarget(event, copy));
    return out;
  }

  /** The entry (its feed and seq) that made a content row's last write (content.ts: last). */
  #writerOf(last: string | undefined): { readonly feed: string; readonly seq: number } | undefined {
    if (last === undefined) return undefined;
    return this.positions.row(lastPosition(last));
  }

  /** The file's content as the author of `feed` last saw it, given the heads it had. */
  #seenBy(id: NodeId, feed: string, heads: Map<string, number>): ContentRow | undefined {
    // Only what earlier entries made: not the changes of the entry being applied.
    const now = this.positions.applied;
    const changes = [...this.content.rowChanges(id)].filter((c) => c.n < now).reverse();
    for (const c of changes) {
      const pos = this.positions.row(c.n);
      if (pos === undefined) continue;
      if (pos.feed === feed || (heads.get(pos.feed) ?? 0) > pos.seq) return c.value ?? undefined;
    }
    return undefined;
  }
}


function conflictId(of: NodeId, feed: string, writerFeed: string, writerSeq: number): NodeId {
  return createHash('sha256').update(`realize/conflict\0${of}\0${feed}\0${writerFeed}\0${writerSeq}`).digest('hex').slice(0, 32);
}

function retarget(event: ContentEvent, id: NodeId): FsEvent {
  return { ...event, id };
}

