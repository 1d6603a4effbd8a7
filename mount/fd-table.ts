/**
 * Open files: a handle number per open(2), naming the node by id so that reads and writes
 * keep working after the file is renamed or unlinked.
 */
import type { NodeId } from '../engine/index.js';

export interface OpenFile {
  readonly id: NodeId;
  readonly flags: number;
  /** Written through this handle since it was opened. */
  written: boolean;
  /** The kernel's inode (node id) the handle was opened on; 0 until known (mount/kernel-pages.ts). */
  inode: number;
  /** Made by create(2): the file's content token then (the new inode holds it). */
  createdToken?: string | null;
}

export class FdTable {
  readonly #open = new Map<number, OpenFile>();
  readonly #perNode = new Map<NodeId, number>();
  #next = 1;

  open(id: NodeId, flags: number): number {
    let fd = this.#next;
    while (this.#open.has(fd)) fd = fd >= 0x7fffffff ? 1 : fd + 1;
    this.#next = fd >= 0x7fffffff ? 1 : fd + 1;
    this.#open.set(fd, { id, flags, written: false, inode: 0 });
    this.#perNode.set(id, (this.#perNode.get(id) ?? 0) + 1);
    return fd;
  }

  get(fd: number): OpenFile | undefined {
    return this.#open.get(fd);
  }

  /** Closes the handle; says whether it was the node's last one. */
  close(fd: number): { file: OpenFile; last: boolean } | undefined {
    const file = this.#open.get(fd);
    if (file === undefined) return undefined;
    this.#open.delete(fd);
    const n = (this.#perNode.get(file.id) ?? 1) - 1;
    if (n <= 0) this.#perNode.delete(file.id);
    else this.#perNode.set(file.id, n);
    return { file, last: n <= 0 };
  }

  /** The handles open on the node. */
  handlesOf(id: NodeId): number[] {
    if (!this.#perNode.has(id)) return [];
    const out: number[] = [];
    for (const [fd, f] of this.#open) if (f.id === id) out.push(fd);
    return out;
  }

  /** Handles open on the node. */
  count(id: NodeId): number {
    return this.#perNode.get(id) ?? 0;
  }

  isOpen(id: NodeId): boolean {
    return this.#perNode.has(id);
  }

  get size(): number {
    return this.#open.size;
  }
}
