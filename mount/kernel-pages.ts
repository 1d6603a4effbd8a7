/**
 * What the kernel's page cache holds, per kernel inode, so that open(2) can keep it
 * (FOPEN_KEEP_CACHE) when it still is the file's content, and drop it otherwise.
 *
 * libfuse 2's auto_cache keeps pages only when the mtime and size did not change since the
 * last open: a file read right after it was written through this mount went back to the
 * server. Here each kernel inode (the node id the kernel names requests with) is tied to the
 * content token (engine/write-cache.ts contentToken) its pages hold:
 *
 * - open: the pages are kept when the inode was last known to hold the token the file has now
 *   and the write cache holds nothing of the file (data not yet stored might have come from
 *   another inode: a hard link is another kernel inode); either way the inode holds the
 *   current token from then on (dropped pages are read again from the server).
 * - a flush of data written through exactly one inode that held the token before the flush
 *   moves that inode to the token after it (its pages hold what it wrote); any other inode
 *   keeps the old token, so its next open drops its pages.
 * - anything else that changes the content (an entry received by sync, a restore, a truncate,
 *   a write event another entry raced with) gives a new token nobody holds: the next open of
 *   every inode drops its pages.
 *
 * A file that stays open across a change from elsewhere keeps its pages until it is opened
 * again (as with auto_cache; the attribute timeout still shows its new size).
 */
import type { NodeId } from '../engine/index.js';

/** Inodes remembered at most (the oldest are forgotten: their next open drops their pages). */
const MAX_INODES = 65_536;

export class KernelPages {
  readonly #held = new Map<number, { id: NodeId; token: string }>();
  readonly #max: number;

  constructor(max = MAX_INODES) {
    this.#max = max;
  }

  /**
   * Kernel inode `inode` opens node `id`, whose content is now `token` (null: not vouched
   * for). `pending`: the write cache holds data of the file not stored yet. Returns whether
   * the inode's cached pages may be kept.
   */
  open(inode: number, id: NodeId, token: string | null, pending: boolean): boolean {
    if (inode === 0) return false;
    const held = this.#held.get(inode);
    const keep = token !== null && !pending && held !== undefined && held.id === id && held.token === token;
    this.#set(inode, id, token);
    return keep;
  }

  /**
   * A new inode made by create(2): it has no pages yet, so it holds whatever the file held
   * when it was created (`token`, taken then).
   */
  created(inode: number, id: NodeId, token: string | null): void {
    if (inode === 0 || this.#held.has(inode)) return;
    this.#set(inode, id, token);
  }

  /** A flush stored data written through `sources`, turning the content from `before` into `after`. */
  stored(id: NodeId, sources: ReadonlySet<number>, before: string | null, after: string | null): void {
    if (after === null || before === null || sources.size !== 1) return;
    const [inode] = sources as Iterable<number>;
    const held = this.#held.get(inode!);
    if (held !== undefined && held.id === id && held.token === before) held.token = after;
  }

  #set(inode: number, id: NodeId, token: string | null): void {
    this.#held.delete(inode);
    if (token === null) return;
    if (this.#held.size >= this.#max) this.#held.delete(this.#held.keys().next().value!);
    this.#held.set(inode, { id, token });
  }
}
