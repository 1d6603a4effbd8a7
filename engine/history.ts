/**
 * `realize history PATH`: every version of a path, newest first. It follows the node now at
 * PATH across renames, and every node that PATH named before it (deletes and re-creates).
 */
import { hlcWallMs, toHex, type NodeId } from '../log/index.js';
import { ROOT_ID, versionHash, type NodeRecord } from '../projections/index.js';
import { EngineError } from './engine-error.js';
import type { Engine } from './engine.js';
import { parentAndName } from './fs-path.js';
import { resolve } from './tree-view.js';

export interface HistoryItem {
  readonly position: number;
  readonly time: number;
  readonly feed: string;
  readonly seq: number;
  /** The author's public key (hex). */
  readonly author: string;
  readonly events: readonly string[];
  readonly id: NodeId;
  readonly path: string | null;
  readonly kind: string;
  readonly size: number | null;
  readonly hash: string | null;
  readonly exists: boolean;
}

/** The path of node `id` as it stood at position n (null once it has no name). */
export function pathAt(engine: Engine, id: NodeId, n: number): string | null {
  const parts: string[] = [];
  let cur: NodeId | undefined = id;
  for (let depth = 0; depth < 4096; depth++) {
    if (cur === undefined) return null;
    const node = engine.projections.tree.nodeAt(cur, n);
    if (node === undefined || (node.nlink === 0 && depth === 0)) return null;
    if (node.parent === undefined) {
      // An area root: find its name.
      for (const { area, root } of engine.projections.tree.areasAt(n)) if (root === cur) return `/${[area, ...parts.reverse()].join('/')}`;
      return null;
    }
    if (node.name === undefined) return null;
    if (engine.projections.tree.childAt(node.parent, node.name, n) !== cur) return null;
    parts.push(node.name);
    cur = node.parent;
  }
  return null;
}

/** The last change at or before n in a list sorted by n (undefined: none). */
function lastAtOrBefore<T extends { n: number }>(changes: readonly T[], n: number): T | undefined {
  let lo = 0;
  let hi = changes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (changes[mid]!.n <= n) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : changes[lo - 1];
}

/**
 * pathAt for many positions of the same few nodes: each node's records, each name's changes
 * and the areas are read once (one range read each) and looked up in memory after that.
 */
class PastPaths {
  readonly #engine: Engine;
  readonly #nodes = new Map<NodeId, Array<{ n: number; value: NodeRecord | null }>>();
  readonly #names = new Map<string, Array<{ n: number; value: NodeId | null }>>();
  #areas: Map<string, Array<{ n: number; root: NodeId | null }>> | null = null;

  constructor(engine: Engine) {
    this.#engine = engine;
  }

  #node(id: NodeId, n: number): NodeRecord | undefined {
    let changes = this.#nodes.get(id);
    if (changes === undefined) {
      changes = [...this.#engine.projections.tree.nodeChanges(id)];
      this.#nodes.set(id, changes);
    }
    return lastAtOrBefore(changes, n)?.value ?? undefined;
  }

  #child(parent: NodeId, name: string, n: number): NodeId | undefined {
    const key = `${parent}/${name}`;
    let changes = this.#names.get(key);
    if (changes === undefined) {
      changes = [...this.#engine.projections.tree.direntChanges(parent, name)];
      this.#names.set(key, changes);
    }
    return lastAtOrBefore(changes, n)?.value ?? undefined;
  }

  #areaOf(root: NodeId, n: number): string | undefined {
    if (this.#areas === null) {
      this.#areas = new Map();
      for (const c of this.#engine.projections.tree.areaChanges()) {
        const list = this.#areas.get(c.area) ?? [];
        list.push(c);
        this.#areas.set(c.area, list);
      }
    }
    for (const [area, list] of this.#areas) if (lastAtOrBefore(list, n)?.root === root) return area;
    return undefined;
  }

  /** The same answer as pathAt(engine, id, n). */
  at(id: NodeId, n: number): string | null {
    const parts: string[] = [];
    let cur: NodeId | undefined = id;
    for (let depth = 0; depth < 4096; depth++) {
      if (cur === undefined) return null;
      const node = this.#node(cur, n);
      if (node === undefined || (node.nlink === 0 && depth === 0)) return null;
      if (node.parent === undefined) {
        const area = this.#areaOf(cur, n);
        return area === undefined ? null : `/${[area, ...parts.reverse()].join('/')}`;
      }
      if (node.name === undefined) return null;
      if (this.#child(node.parent, node.name, n) !== cur) return null;
      parts.push(node.name);
      cur = node.parent;
    }
    return null;
  }
}

export async function history(engine: Engine, path: string): Promise<HistoryItem[]> {
  const p = engine.projections;
  const { parent: parentParts, name } = parentAndName(path);
  const ids: NodeId[] = [];
  const current = engine.lookup(path);
  if (current) ids.push(current.id);
  if (parentParts.length > 0) {
    let parent: NodeId | undefined;
    try {
      parent = resolve(engine.view, parentParts).id;
    } catch {
      parent = undefined;
    }
    if (parent !== undefined && parent !== ROOT_ID) {
      for (const c of p.tree.direntChanges(parent, name)) if (c.value !== null && !ids.includes(c.value)) ids.push(c.value);
    }
  }
  if (ids.length === 0) throw new EngineError('NOT_FOUND', `${path} has no history here (it never existed under its parent as it stands now)`);
  const items: HistoryItem[] = [];
  const paths = new PastPaths(engine);
  for (const id of ids) {
    // The changes of the node's record and of its content rows, merged by position, and for
    // each the kinds of the events that named the node: no entry of the log is read.
    const nodes = [...p.tree.nodeChanges(id)];
    const contents = [...p.content.rowChanges(id)];
    const ns = [...new Set([...nodes.map((c) => c.n), ...contents.map((c) => c.n)])].sort((a, b) => a - b);
    const kinds = p.touches.kindsAtEach(id, ns);
    let ni = -1;
    let ci = -1;
    for (const n of ns) {
      while (ni + 1 < nodes.length && nodes[ni + 1]!.n <= n) ni++;
      while (ci + 1 < contents.length && contents[ci + 1]!.n <= n) ci++;
      const row = p.positions.row(n);
      if (row === undefined) continue;
      const node = ni >= 0 ? nodes[ni]!.value ?? undefined : undefined;
      const content = ci >= 0 ? contents[ci]!.value ?? undefined : undefined;
      const hash = content ? (content.pending === 0 && content.version ? content.version : versionHash(content.size, content.blocks)) : null;
      items.push({
        position: n,
        time: hlcWallMs(row.hlc),
        feed: row.feed,
        seq: row.seq,
        author: row.feed.slice(0, 64),
        events: kinds.get(n) ?? [],
        id,
        path: paths.at(id, n),
        kind: node?.kind ?? 'gone',
        size: content ? content.size : null,
        hash: hash ? toHex(hash) : null,
        exists: node !== undefined && node.nlink > 0,
      });
    }
  }
  items.sort((a, b) => b.position - a.position);
  return items;
}
