/**
 * The directory a removal's path names as its parent, remembered from one decide to the next:
 * rm -rf removes a directory's entries one after another, each by its whole path, and
 * resolving the same parent again from the area's root (a row read per component) was a good
 * part of an unlink's decide. A path keeps naming the same directory while nothing has moved
 * or removed a directory (Engine.pathGeneration), and a directory keeps its id, kind and area:
 * the memo holds while the generation does. Only what a removal reads of its parent (its id,
 * that it is a directory) is taken from it; its other fields may be older.
 */
import type { Resolved } from './tree-view.js';

export class ParentMemo {
  readonly #generation: () => number;
  #at = -1;
  #path = '';
  #parent: Resolved | null = null;

  /** `generation`: Engine.pathGeneration. */
  constructor(generation: () => number) {
    this.#generation = generation;
  }

  /** The directory `path` (a removal path's text before its last "/") resolved to, if still known. */
  get(path: string): Resolved | undefined {
    if (this.#parent === null || this.#path !== path || this.#at !== this.#generation()) return undefined;
    return this.#parent;
  }

  /** `path` resolved to the directory `parent` now. */
  set(path: string, parent: Resolved): void {
    this.#at = this.#generation();
    this.#path = path;
    this.#parent = parent;
  }
}
