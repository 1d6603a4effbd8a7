/**
 * The read side of the engine: the tree and its bytes as one position of the log holds them
 * (the head, or any past position). Paths resolve against the snapshot's own tree.
 */
import { BLOCK_SIZE, ZERO_BLOCK, type NodeId } from '../log/index.js';
import { blockAt, ROOT_ID, splitBlocks, versionHash, type BlockIndex, type ContentRow, type Dirent, type NodeRecord } from '../projections/index.js';
import type { BlockStore } from './block-store.js';
import { EngineError } from './engine-error.js';
import { splitPath } from './fs-path.js';
import { nodeInfo, type NodeInfo, type StatFields } from './node-info.js';
import type { SnapshotSource } from './snapshot-source.js';
import { resolve, ROOT_NODE, type TreeView } from './tree-view.js';
import { copyBytes } from './copy-bytes.js';

export interface DirEntry {
  readonly name: string;
  readonly info: NodeInfo;
}

/** A directory entry with only what a listing's d_type and d_ino need (see Snapshot.readdirKinds). */
export interface DirKind {
  readonly name: string;
  readonly ino: number;
  readonly kind: NodeInfo['kind'];
}

/** Where a block sits: the file (when known), its block list, and the block's index in it. */
export interface BlockAt {
  readonly id?: NodeId;
  readonly blocks: Uint8Array;
  readonly index: number;
}

/**
 * Where reads get the blocks this peer lacks (engine/placement: Unreal content, fetched from
 * connected peers) and who hears of every read (the cache's LRU, read-ahead).
 */
export interface BlockFetchHook {
  /** The content of a block that is not here, or a BLOCK_MISSING error saying why not. */
  fetch(hash: Uint8Array, at: BlockAt): Promise<Uint8Array>;
  /** A whole block fetched a moment ago (already checked), or on its way; null when it is neither. */
  recent(hash: Uint8Array): Uint8Array | Promise<Uint8Array> | null;
  /** A read of blocks [first, last] of a block list is done. */
  read(at: { readonly id?: NodeId; readonly blocks: Uint8Array; readonly first: number; readonly last: number }): void;
}

export class Snapshot {
  readonly source: SnapshotSource;
  readonly view: TreeView;
  readonly #blocks: BlockStore;
  readonly #index: BlockIndex;
  readonly #hook: () => BlockFetchHook | null;

  constructor(source: SnapshotSource, blocks: BlockStore, index: BlockIndex, hook: () => BlockFetchHook | null = () => null) {
    this.source = source;
    this.#blocks = blocks;
    this.#index = index;
    this.#hook = hook;
    this.view = {
      node: (id) => (id === ROOT_ID ? ROOT_NODE : source.node(id)),
      child: (parent, name) => source.child(parent, name),
      hasChildren: (id) => {
        for (const _ of source.children(id)) return true;
        return false;
      },
      isWithin: (id, ancestor) => {
        let cur: NodeId | undefined = id;
        for (let depth = 0; cur !== undefined && depth < 100000; depth++) {
          if (cur === ancestor) return true;
          cur = source.node(cur)?.parent;
        }
        return false;
      },
      areaRoot: (area) => source.areaRoot(area),
      xattr: (id, name) => source.xattr(id, name),
    };
  }

  get position(): number {
    return this.source.position;
  }

  info(id: NodeId): NodeInfo | undefined {
    if (id === ROOT_ID) return nodeInfo(ROOT_ID, { ino: 1, gen: 0 }, ROOT_NODE, undefined);
    return this.#infoOf(id, this.source.node(id));
  }

  /**
   * What stat shows of node `id` (its NodeInfo's stat fields): at the head, read from the
   * stored bytes of its rows without decoding them whole (no NodeInfo, no area, parent or name,
   * nothing kept decoded): what an attribute fill of a whole directory reads for each entry.
   */
  statFields(id: NodeId): StatFields | undefined {
    return (id === ROOT_ID ? undefined : this.source.statFields?.(id)) ?? this.info(id);
  }

  /** info() of a node whose record was just read (resolving its path). */
  #infoOf(id: NodeId, node: NodeRecord | undefined): NodeInfo | undefined {
    if (id === ROOT_ID) return this.info(id);
    const ino = this.source.inode(id);
    if (node === undefined || ino === undefined) return undefined;
    return nodeInfo(id, ino, node, node.kind === 'file' ? this.source.content(id) : undefined);
  }

  /** The id of the node at `path`, resolving nothing more (cheaper than stat). */
  idOf(path: string): NodeId {
    return resolve(this.view, splitPath(path)).id;
  }

  /** The node at `path` (symlinks are not followed). Throws NOT_FOUND / NOT_A_DIRECTORY. */
  stat(path: string): NodeInfo {
    const { id, node } = resolve(this.view, splitPath(path));
    const info = this.#infoOf(id, node as NodeRecord | undefined);
    if (info === undefined) throw new EngineError('NOT_FOUND', `no such file or directory: ${path}`);
    return info;
  }

  lookup(path: string): NodeInfo | undefined {
    try {
      return this.stat(path);
    } catch (err) {
      if (err instanceof EngineError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
  }

  /** The names and ids in the directory at `path`, in name order (the root's: the areas). */
  #children(path: string): Iterable<Dirent> {
    const dir = resolve(this.view, splitPath(path));
    if (dir.node.kind !== 'dir') throw new EngineError('NOT_A_DIRECTORY', `${path} is not a directory`);
    return dir.id === ROOT_ID ? [...this.source.areas()].map(({ area, root }) => ({ name: area, id: root })) : this.source.children(dir.id);
  }

  /** Entries of the directory at `path`, in name order. */
  readdir(path: string): DirEntry[] {
    const out: DirEntry[] = [];
    for (const { name, id } of this.#children(path)) {
      const info = this.info(id);
      if (info) out.push({ name, info });
    }
    return out;
  }

  /**
   * Entries of the directory at `path`, in name order, with their inode number and kind only
   * (what a FUSE listing hands the kernel: find, ls and rm -r list directories without the
   * sizes and times). The current tree's entry rows hold their nodes' kinds, so a listing at
   * the head is one range read and an inode number an entry (the inode table keeps those at
   * hand); a past listing names ids only, and reads each node's record for its kind.
   */
  readdirKinds(path: string): DirKind[] {
    const out: DirKind[] = [];
    for (const { name, id, kind } of this.#children(path)) {
      const k = kind ?? this.source.node(id)?.kind;
      const ino = this.source.inode(id);
      if (k !== undefined && ino !== undefined) out.push({ name, ino: ino.ino, kind: k });
    }
    return out;
  }

  readlink(path: string): string {
    const info = this.stat(path);
    if (info.kind !== 'symlink') throw new EngineError('INVALID', `${path} is not a symbolic link`);
    return info.target!;
  }

  getxattr(id: NodeId, name: string): Uint8Array {
    const v = this.source.xattr(id, name);
    if (v === undefined) throw new EngineError('NO_ATTRIBUTE', `no attribute ${name}`);
    return v;
  }

  listxattr(id: NodeId): string[] {
    return this.source.xattrNames(id);
  }

  /** A file's content row; NOT_FOUND, IS_A_DIRECTORY or INVALID (a symlink) as the decider says. */
  fileRow(id: NodeId): ContentRow {
    const row = this.source.content(id);
    if (row !== undefined) return row;
    const node = this.source.node(id);
    throw new EngineError(node === undefined ? 'NOT_FOUND' : node.kind === 'dir' ? 'IS_A_DIRECTORY' : 'INVALID', `no file content for ${id}`);
  }

  /**
   * Bytes [offset, offset + length) of a file (short at the end of the file); with `into`,
   * read into it (see readBlocks).
   */
  async read(id: NodeId, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    const row = this.fileRow(id);
    return this.readBlocks(row.blocks, row.size, offset, length, id, into);
  }

  /**
   * Reads a byte range from a block list of a file of `size` bytes (file `id`, when known). A
   * block that is not here is fetched through the hook (Unreal content) instead of failing.
   * With `into`, the bytes go there (from its start; it must hold them) and the result is a
   * view of it: a caller streaming a file reuses one buffer instead of a fresh one per read.
   */
  async readBlocks(blocks: Uint8Array, size: number, offset: number, length: number, id?: NodeId, into?: Buffer): Promise<Buffer> {
    const end = Math.min(size, offset + length);
    if (end <= offset) return into === undefined ? Buffer.alloc(0) : into.subarray(0, 0);
    if (into !== undefined && into.byteLength < end - offset) throw new EngineError('BAD_ARGUMENT', `a read of ${end - offset} bytes does not fit in ${into.byteLength}`);
    // Every byte of the result is written below (blocks, or zeros for holes and short blocks),
    // so a fresh one need not be zeroed first.
    let out: Buffer | undefined;
    const result = (): Buffer => (out ??= into === undefined ? Buffer.allocUnsafe(end - offset) : into.subarray(0, end - offset));
    /** Copies a block's slice to `at` in the result; what the block lacks of the slice reads as zeros. */
    const place = (dest: Buffer, data: Uint8Array, at: number, want: number): void => {
      const n = Math.min(data.byteLength, want);
      copyBytes(dest, n === data.byteLength ? data : data.subarray(0, n), at); // a received block may lie in shared memory
      if (n < want) dest.fill(0, at + n, at + want);
    };
    const first = Math.floor(offset / BLOCK_SIZE);
    const last = Math.floor((end - 1) / BLOCK_SIZE);
    const reads: Promise<void>[] = [];
    const hook = this.#hook();
    for (let i = first; i <= last; i++) {
      const hash = blockAt(blocks, i);
      const blockStart = i * BLOCK_SIZE;
      const from = Math.max(offset, blockStart) - blockStart;
      const to = Math.min(end, blockStart + BLOCK_SIZE) - blockStart;
      if (Buffer.compare(hash, ZERO_BLOCK) === 0) {
        result().fill(0, blockStart + from - offset, blockStart + to - offset);
        continue;
      }
      let read: Promise<Uint8Array>;
      // A block the hook gives (fetched, or fetched ahead) is lent: a view of a received
      // message that is let go once this turn's reads copied it out (engine/block-hasher.ts
      // FrameLease). Only a read's own buffer leaves here.
      let lent = false;
      if (hook !== null) {
        const at: BlockAt = id === undefined ? { blocks, index: i } : { id, blocks, index: i };
        const near = hook.recent(hash);
        lent = near !== null;
        read =
          near === null
            ? this.#blocks.getRange(hash, from, to - from)
            : Promise.resolve(near).then(
                (data) => data.subarray(from, to),
                () => ((lent = false), this.#blocks.getRange(hash, from, to - from)),
              );
        read = read.catch(async (err: unknown) => {
          if (!(err instanceof EngineError && err.code === 'BLOCK_MISSING')) throw err;
          const data = await hook.fetch(hash, at);
          lent = true;
          return data.subarray(from, to);
        });
      } else {
        read = this.#blocks.getRange(hash, from, to - from);
      }
      if (first === last && from === 0 && into === undefined) {
        // The common FUSE read (one block, from its start): the block's buffer, not a copy
        // (a lent block: a copy).
        const data = await read;
        hook?.read(id === undefined ? { blocks, first, last } : { id, blocks, first, last });
        if (data.byteLength >= to) return lent ? Buffer.from(data.subarray(0, to)) : Buffer.from(data.buffer, data.byteOffset, to);
        place(result(), data, 0, to);
        return out!;
      }
      const dest = result();
      // Only the slice is copied; a block shorter than the slice (a file's old tail) reads as zeros past its end.
      reads.push(read.then((data) => place(dest, data, blockStart + from - offset, to - from)));
    }
    const done = result();
    await Promise.all(reads);
    hook?.read(id === undefined ? { blocks, first, last } : { id, blocks, first, last });
    return done;
  }

  /** The content hash of a file's branch (its version hash once committed), and its history length. */
  contentState(id: NodeId): { hash: Uint8Array; commits: number; pending: number } | undefined {
    const row = this.source.content(id);
    if (row === undefined) return undefined;
    return { hash: row.pending === 0 && row.version !== null ? row.version : versionHash(row.size, row.blocks), commits: row.commits, pending: row.pending };
  }

  /** A file's logical size, and the bytes its distinct blocks take in the block store. */
  storedSize(id: NodeId): { logical: number; stored: number; blocks: number } {
    const row = this.source.content(id);
    if (row === undefined) return { logical: 0, stored: 0, blocks: 0 };
    const seen = new Set<string>();
    let stored = 0;
    for (const b of splitBlocks(row.blocks)) {
      const key = Buffer.from(b).toString('hex');
      if (seen.has(key) || Buffer.compare(b, ZERO_BLOCK) === 0) continue;
      seen.add(key);
      stored += this.#index.get(b)?.stored ?? 0;
    }
    return { logical: row.size, stored, blocks: seen.size };
  }
}
