/**
 * Directory ids by path, for the whole paths libfuse 2 hands every request: a path's parent
 * is found here in one map lookup instead of one walk through the tree per component. An
 * entry stays right while the engine's pathGeneration holds (nothing moved or removed a
 * directory); when it changes, everything is forgotten. Head reads only.
 */
import { splitPath, type Engine, type NodeId, type NodeInfo } from '../engine/index.js';

/** Directories remembered at most (then the cache starts again). */
const MAX_DIRS = 16_384;

export class DirCache {
  readonly #engine: Engine;
  readonly #ids = new Map<string, NodeId>();
  #generation = -1;

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  /** The node at `path` at the head: what engine.head.stat answers, errors included. */
  stat(path: string): NodeInfo {
    // Not found here: the head resolves the path itself, for the exact error.
    return this.find(path) ?? this.#engine.head.stat(path);
  }

  /**
   * What stat answers, except that a path that is simply not there (a valid name missing from
   * a known directory) gives undefined instead of a NOT_FOUND error: the kernel looks up every
   * name before it creates it, and building an error (its stack) costs more than the lookup.
   */
  find(path: string): NodeInfo | undefined {
    const id = this.#childId(path);
    if (id === undefined) {
      splitPath(path); // a bad name or an over-long path throws here, as stat would
      return undefined;
    }
    if (id === null) return this.#engine.head.stat(path);
    const info = this.#engine.head.info(id);
    if (info === undefined) return this.#engine.head.stat(path);
    if (info.kind === 'dir') this.#remember(path, info.id);
    return info;
  }

  /** The id of the node at `path` at the head: what engine.head.idOf answers. */
  idOf(path: string): NodeId {
    return this.#childId(path) ?? this.#engine.head.idOf(path);
  }

  /** The id under the cached parent directory; undefined: no such child; null: the parent is not known as a directory. */
  #childId(path: string): NodeId | undefined | null {
    if (this.#generation !== this.#engine.pathGeneration) {
      this.#ids.clear();
      this.#generation = this.#engine.pathGeneration;
    }
    const cut = path.lastIndexOf('/');
    if (cut <= 0) return null; // the root and the areas: the head answers
    const parent = this.#dirId(path.slice(0, cut));
    if (parent === undefined) return null;
    return this.#engine.view.child(parent, path.slice(cut + 1));
  }

  #dirId(path: string): NodeId | undefined {
    const known = this.#ids.get(path);
    if (known !== undefined) return known;
    let info: NodeInfo;
    try {
      info = this.stat(path);
    } catch {
      return undefined; // the caller asks the head, which gives the exact error
    }
    return info.kind === 'dir' ? info.id : undefined;
  }

  #remember(path: string, id: NodeId): void {
    if (this.#ids.size >= MAX_DIRS) this.#ids.clear();
    this.#ids.set(path, id);
  }
}
