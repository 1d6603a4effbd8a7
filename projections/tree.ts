/**
 * The tree: every node's metadata and every directory entry. Areas are the top-level
 * directories (their roots are listed under the area name). Applying is idempotent and
 * total: an event that no longer fits the tree (its parent gone, its name taken, a move
 * that would make a cycle) is resolved by a deterministic rule, never by throwing, so that
 * every peer holding the same entries in the same order gets the same tree.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEvent, NodeId } from '../log/index.js';
import type { Hash } from 'node:crypto';
import { CachedDb } from './cached-db.js';
import { digestRows } from './digest.js';
import { DirListings } from './dir-listings.js';
import { direntCodec, nodeIdCodec, nodeRecordCodec, readNodeStat } from './row-codec.js';
import type { HistoryReader } from './history.js';
import { versionedDb, type Versioning } from './versioned-db.js';
import type { ApplyContext, Projection } from './projection.js';
import type { Dirent, DirentRow, NodeKind, NodeRecord, NodeStatRow } from './rows.js';

export type { Dirent, DirentRow, NodeKind, NodeRecord, NodeStatRow } from './rows.js';

/** 20261122-013045: a conflict copy's time, in UTC, to the second. */
function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/**
 * The names a conflicting node `id` tries beside `name`, in order: name.conflict-PEER-TIME.ext
 * (PEER: the first 8 hex digits of the author's key), then with more and more of the id.
 */
export function conflictNames(name: string, id: NodeId, author: Uint8Array, time: number): string[] {
  const dot = name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : '';
  const base = `${stem}.conflict-${Buffer.from(author).toString('hex').slice(0, 8)}-${stamp(time)}`;
  const out = [`${base}${ext}`];
  for (let n = 8; n <= 32; n += 8) out.push(`${base}-${id.slice(0, n)}${ext}`);
  return out.filter((c) => Buffer.byteLength(c) <= 255).concat(`c-${id}`);
}


type MutableRecord = { -readonly [K in keyof NodeRecord]: NodeRecord[K] };

/**
 * A copy of a node's record, every field named, in one shape whatever the record's came from
 * (a decoded row, a create's literal, an earlier copy): a spread of records of several shapes
 * took V8's slow path at every write, setattr and create in a directory of a rebuild.
 */
function copyRecord(n: NodeRecord): MutableRecord {
  return {
    kind: n.kind, mode: n.mode, uid: n.uid, gid: n.gid,
    atime: n.atime, mtime: n.mtime, ctime: n.ctime,
    nlink: n.nlink, area: n.area,
    target: n.target, parent: n.parent, name: n.name,
  };
}

export class Tree implements Projection {
  readonly name = 'tree';
  readonly local = false;
  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#nodes as unknown as CachedDb<never, never>, this.#nodesHistory as unknown as CachedDb<never, never>, this.#dirents as unknown as CachedDb<never, never>, this.#direntsHistory as unknown as CachedDb<never, never>, this.#areas as unknown as CachedDb<never, never>, this.#areasHistory as unknown as CachedDb<never, never>, ...this.#listings.caches];
  }
  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['tree-nodes', this.#nodes.db as Database<unknown, Key>], ['tree-nodes-history', this.#nodesHistory.db as Database<unknown, Key>], ['tree-dirents', this.#dirents.db as Database<unknown, Key>], ['tree-dirents-history', this.#direntsHistory.db as Database<unknown, Key>], ['tree-areas', this.#areas.db as Database<unknown, Key>], ['tree-areas-history', this.#areasHistory.db as Database<unknown, Key>], ...this.#listings.dbs];
  }
  digestInto(h: Hash, translate: (key: string) => string): void {
    digestRows(h, 'tree-nodes', this.#nodesPast.digestRows(translate));
    digestRows(h, 'tree-dirents', this.#direntsPast.digestRows(translate));
    digestRows(h, 'tree-areas', this.#areasPast.digestRows(translate));
    const { dirlog, listings } = this.#listings.digestRows(translate);
    digestRows(h, 'tree-dirlog', dirlog);
    digestRows(h, 'tree-listings', listings);
  }
  readonly #nodes: CachedDb<NodeRecord, string>;
  readonly #nodesPast: HistoryReader<NodeRecord>;
  readonly #nodesHistory: CachedDb<NodeRecord | null, string>;
  /** Directory entries: `${directory's key}/${name}` -> the node and its kind (a listing reads nothing else). */
  readonly #dirents: CachedDb<DirentRow, string>;
  readonly #direntsPast: HistoryReader<DirentRow>;
  readonly #direntsHistory: CachedDb<DirentRow | null, string>;
  readonly #areas: CachedDb<NodeId, string>;
  readonly #areasPast: HistoryReader<NodeId>;
  readonly #areasHistory: CachedDb<NodeId | null, string>;
  readonly #listings: DirListings;
  /** The key of a node's rows: its inode number (inode-table.ts keyOf; undefined: it has none, so no rows). */
  readonly #key: (id: NodeId) => string | undefined;

  /** `nodeKey`: the key of a node's rows (inode-table.ts keyOf): records and directory entries are keyed by inode number. */
  constructor(env: RootDatabase, versioning: Versioning, nodeKey: (id: NodeId) => string | undefined) {
    this.#key = nodeKey;
    const nodes = versionedDb<NodeRecord>(env, 'tree-nodes', versioning, nodeRecordCodec);
    this.#nodes = nodes.current;
    this.#nodesPast = nodes.past;
    this.#nodesHistory = nodes.history;
    const dirents = versionedDb<DirentRow>(env, 'tree-dirents', versioning, direntCodec);
    this.#dirents = dirents.current;
    this.#direntsPast = dirents.past;
    this.#direntsHistory = dirents.history;
    const areas = versionedDb<NodeId>(env, 'tree-areas', versioning, nodeIdCodec);
    this.#areas = areas.current;
    this.#areasPast = areas.past;
    this.#areasHistory = areas.history;
    this.#listings = new DirListings(env, versioning.undo, versioning.position, (dir) => this.children(dir), (dir) => {
      const key = nodeKey(dir);
      return key === undefined ? [] : this.#nodesPast.changePositions(key);
    }, nodeKey);
  }

  // ---- queries ----

  node(id: NodeId): NodeRecord | undefined {
    const key = this.#key(id);
    return key === undefined ? undefined : this.#nodes.get(key);
  }

  /**
   * What a stat shows of a node's record, read from its stored bytes without decoding the rest
   * (row-codec.ts readNodeStat): a directory's attribute fill reads this for each entry.
   * Undefined when it cannot be read so (no record stored, or a batch being applied): node().
   */
  nodeStat(id: NodeId): NodeStatRow | undefined {
    const key = this.#key(id);
    const raw = key === undefined ? undefined : this.#nodes.rawRow(key);
    return raw === undefined ? undefined : readNodeStat(raw, raw.length);
  }

  child(parent: NodeId, name: string): NodeId | undefined {
    const key = this.#direntKey(parent, name);
    return key === undefined ? undefined : this.#dirents.get(key)?.id;
  }

  /** A directory entry's key: its directory's key and the name (undefined: the directory has no number). */
  #direntKey(parent: NodeId, name: string): string | undefined {
    const key = this.#key(parent);
    return key === undefined ? undefined : `${key}/${name}`;
  }

  /** Directory entries in name order (UTF-8 byte order), with their kinds, starting after `after` when given. */
  *children(parent: NodeId, after?: string): Generator<Dirent> {
    const dir = this.#key(parent);
    if (dir === undefined) return;
    const prefix = `${dir}/`;
    const start = after === undefined ? prefix : `${prefix}${after}\0`;
    for (const { key, value } of this.#dirents.getRange({ start, end: `${dir}0` })) {
      yield { name: key.slice(prefix.length), id: value.id, kind: value.kind };
    }
  }

  hasChildren(parent: NodeId): boolean {
    const dir = this.#key(parent);
    if (dir === undefined) return false;
    const prefix = `${dir}/`;
    return this.#dirents.hasKeyUnder(prefix, { start: prefix, end: `${dir}0` });
  }

  areaRoot(area: string): NodeId | undefined {
    return this.#areas.get(area);
  }

  *areas(): Generator<{ area: string; root: NodeId }> {
    for (const { key, value } of this.#areas.getRange()) yield { area: key, root: value };
  }

  /** True when `id` is `ancestor` or lies below it. */
  isWithin(id: NodeId, ancestor: NodeId): boolean {
    let cur: NodeId | undefined = id;
    for (let depth = 0; cur !== undefined && depth < 100000; depth++) {
      if (cur === ancestor) return true;
      cur = this.node(cur)?.parent;
    }
    return false;
  }

  // ---- as of a past position ----

  nodeAt(id: NodeId, p: number): NodeRecord | undefined {
    const key = this.#key(id);
    return key === undefined ? undefined : this.#nodesPast.at(key, p);
  }

  childAt(parent: NodeId, name: string, p: number): NodeId | undefined {
    const key = this.#direntKey(parent, name);
    return key === undefined ? undefined : this.#direntsPast.at(key, p)?.id;
  }

  /** Directory entries in name order as they were after entry p: a listing and the changes after it (dir-listings.ts). */
  childrenAt(parent: NodeId, p: number): Dirent[] {
    return this.#listings.childrenAt(parent, p);
  }

  areaRootAt(area: string, p: number): NodeId | undefined {
    return this.#areasPast.at(area, p);
  }

  *areasAt(p: number): Generator<{ area: string; root: NodeId }> {
    for (const [area, root] of this.#areasPast.rangeAt('', p)) yield { area, root };
  }

  /** Every change of a node's record, oldest first (value null: never happens for nodes). */
  *nodeChanges(id: NodeId): Generator<{ n: number; value: NodeRecord | null }> {
    const key = this.#key(id);
    if (key !== undefined) yield* this.#nodesPast.changes(key);
  }

  /** Every change of every area's root, oldest first per area. */
  *areaChanges(): Generator<{ area: string; n: number; root: NodeId | null }> {
    for (const c of this.#areasPast.allChanges('')) yield { area: c.key, n: c.n, root: c.value };
  }

  /** Which node the name held, change by change (null: the name was free). */
  *direntChanges(parent: NodeId, name: string): Generator<{ n: number; value: NodeId | null }> {
    const key = this.#direntKey(parent, name);
    if (key === undefined) return;
    for (const { n, value } of this.#direntsPast.changes(key)) yield { n, value: value === null ? null : value.id };
  }

  // ---- apply ----

  apply(event: FsEvent, ctx: ApplyContext): void {
    switch (event.type) {
      case 'area-create': {
        if (this.#areas.get(event.area) !== undefined || this.node(event.root) !== undefined) return;
        this.#putNode(event.root, {
          kind: 'dir', mode: event.mode, uid: event.uid, gid: event.gid,
          atime: event.time, mtime: event.time, ctime: event.time, nlink: 2, area: event.area,
        });
        this.#areas.put(event.area, event.root);
        return;
      }
      case 'create':
      case 'mkdir':
      case 'symlink': {
        if (this.node(event.id) !== undefined) return;
        const parent = this.node(event.parent);
        if (parent === undefined || parent.kind !== 'dir' || parent.nlink === 0) return;
        // The entry's key built once: asked whether the name is free, then written (most names are).
        let key = this.#direntKey(event.parent, event.name);
        let name = event.name;
        if (key !== undefined && this.#dirents.get(key) !== undefined) {
          name = this.#freeName(event.parent, event.name, event.id, ctx, event.time);
          key = undefined;
        }
        const kind: NodeKind = event.type === 'create' ? 'file' : event.type === 'mkdir' ? 'dir' : 'symlink';
        const mode = event.type === 'symlink' ? 0o777 : event.mode;
        // One literal, in copyRecord's shape (a spread in its middle made every record the slow way).
        const record: MutableRecord = {
          kind, mode, uid: event.uid, gid: event.gid,
          atime: event.time, mtime: event.time, ctime: event.time,
          nlink: kind === 'dir' ? 2 : 1, area: parent.area,
          target: event.type === 'symlink' ? event.target : undefined,
          parent: event.parent,
          name,
        };
        this.#putNode(event.id, record);
        this.#setEntry(event.parent, name, { id: event.id, kind }, key);
        if (kind === 'dir') this.#listings.made(event.id);
        // The parent's record as read above: nothing since changed it (the new node is another).
        this.#touchDir(event.parent, event.time, kind === 'dir' ? 1 : 0, parent);
        return;
      }
      case 'link': {
        const node = this.node(event.id);
        const parent = this.node(event.parent);
        if (node === undefined || node.kind === 'dir' || node.nlink === 0) return;
        if (parent === undefined || parent.kind !== 'dir' || parent.nlink === 0) return;
        const taken = this.child(event.parent, event.name);
        if (taken === event.id) return;
        // Applied again after the name was taken: the link is already there, under its conflict name.
        if (taken !== undefined && conflictNames(event.name, event.id, ctx.entry.author, event.time).some((c) => this.child(event.parent, c) === event.id)) return;
        const name = this.#freeName(event.parent, event.name, event.id, ctx, event.time);
        this.#setEntry(event.parent, name, { id: event.id, kind: node.kind });
        const linked = copyRecord(node);
        linked.nlink = node.nlink + 1;
        linked.ctime = event.time;
        this.#putNode(event.id, linked);
        this.#touchDir(event.parent, event.time, 0);
        return;
      }
      case 'unlink':
      case 'rmdir': {
        if (this.child(event.parent, event.name) !== event.id) return;
        const node = this.node(event.id);
        if (node === undefined) return;
        if (node.kind === 'dir' && this.hasChildren(event.id)) return;
        this.#dropEntry(event.parent, event.name, event.id, node, event.time);
        return;
      }
      case 'rename': {
        if (this.child(event.parent, event.name) !== event.id) return;
        const node = this.node(event.id);
        const dest = this.node(event.newParent);
        if (node === undefined || dest === undefined || dest.kind !== 'dir' || dest.nlink === 0) return;
        if (event.parent === event.newParent && event.name === event.newName) return;
        // A directory moved into its own subtree would make a cycle: the move is skipped.
        if (node.kind === 'dir' && this.isWithin(event.newParent, event.id)) return;
        const replaced = this.child(event.newParent, event.newName);
        if (replaced !== undefined) {
          const old = this.node(replaced);
          if (old !== undefined) {
            if (old.kind === 'dir' && (node.kind !== 'dir' || this.hasChildren(replaced))) return;
            if (old.kind !== 'dir' && node.kind === 'dir') return;
            this.#dropEntry(event.newParent, event.newName, replaced, old, event.time);
          }
        }
        this.#setEntry(event.parent, event.name, null);
        this.#setEntry(event.newParent, event.newName, { id: event.id, kind: node.kind });
        const isDir = node.kind === 'dir';
        // A directory's one link, or a file's first link, moves with the rename.
        const primary = isDir || (node.parent === event.parent && node.name === event.name);
        const moved = copyRecord(node);
        moved.ctime = event.time;
        if (primary) {
          moved.parent = event.newParent;
          moved.name = event.newName;
        }
        this.#putNode(event.id, moved);
        if (event.parent === event.newParent) this.#touchDir(event.parent, event.time, 0);
        else {
          this.#touchDir(event.parent, event.time, isDir ? -1 : 0);
          this.#touchDir(event.newParent, event.time, isDir ? 1 : 0);
        }
        return;
      }
      case 'setattr': {
        const node = this.node(event.id);
        if (node === undefined) return;
        // One copy, its fields set in place (a spread of a small object per field cost a rebuild's every setattr).
        const next = copyRecord(node);
        next.ctime = event.time;
        if (event.mode !== undefined && node.kind !== 'symlink') next.mode = event.mode;
        if (event.uid !== undefined) next.uid = event.uid;
        if (event.gid !== undefined) next.gid = event.gid;
        if (event.atime !== undefined) next.atime = event.atime;
        if (event.mtime !== undefined) next.mtime = event.mtime;
        this.#putNode(event.id, next);
        return;
      }
      case 'write':
      case 'truncate': {
        const node = this.node(event.id);
        if (node === undefined || node.kind !== 'file') return;
        if (node.mtime === event.time && node.ctime === event.time) return;
        const next = copyRecord(node);
        next.mtime = event.time;
        next.ctime = event.time;
        this.#putNode(event.id, next);
        return;
      }
      case 'setxattr':
      case 'removexattr': {
        const node = this.node(event.id);
        if (node === undefined || node.ctime === event.time) return;
        const next = copyRecord(node);
        next.ctime = event.time;
        this.#putNode(event.id, next);
        return;
      }
      case 'commit':
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

  /** The name itself when free; else a deterministic conflict name beside it. */
  #freeName(parent: NodeId, name: string, id: NodeId, ctx: ApplyContext, time: number): string {
    if (this.child(parent, name) === undefined) return name;
    const candidates = conflictNames(name, id, ctx.entry.author, time);
    return candidates.find((c) => this.child(parent, c) === undefined) ?? candidates.at(-1)!;
  }

  /** Points name `name` of `parent` at a node (null: frees it), noting the change for past listings. */
  #setEntry(parent: NodeId, name: string, entry: DirentRow | null, known?: string): void {
    const key = known ?? this.#direntKey(parent, name);
    if (key === undefined) return;
    this.#listings.changed(parent, name, entry === null ? null : entry.id);
    if (entry === null) this.#dirents.remove(key);
    else this.#dirents.put(key, entry);
  }

  /** Every node that is written has a number: the inode table applied its creating event first. */
  #putNode(id: NodeId, record: NodeRecord): void {
    const key = this.#key(id);
    if (key === undefined) throw new Error(`node ${id} has no inode number`);
    this.#nodes.put(key, record);
  }

  #dropEntry(parent: NodeId, name: string, id: NodeId, node: NodeRecord, time: number): void {
    this.#setEntry(parent, name, null);
    const nlink = node.kind === 'dir' ? 0 : Math.max(0, node.nlink - 1);
    const next = copyRecord(node);
    next.nlink = nlink;
    next.ctime = time;
    this.#putNode(id, next);
    this.#touchDir(parent, time, node.kind === 'dir' ? -1 : 0);
  }

  #touchDir(id: NodeId, time: number, nlinkDelta: number, read?: NodeRecord): void {
    const dir = read ?? this.node(id);
    if (dir === undefined) return;
    const next = copyRecord(dir);
    next.mtime = time;
    next.ctime = time;
    next.nlink = dir.nlink + nlinkDelta;
    this.#putNode(id, next);
  }

}
