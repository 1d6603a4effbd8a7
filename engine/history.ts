/**
 * `realize history PATH`: every version of a path, newest first. It follows the node now at
 * PATH across renames, and every node that PATH named before it (deletes and re-creates).
 */
import { hlcWallMs, toHex, type NodeId } from '../log/index.js';
import { ROOT_ID, versionHash } from '../projections/index.js';
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
  for (const id of ids) {
    const ns = new Set<number>();
    for (const c of p.tree.nodeChanges(id)) ns.add(c.n);
    for (const c of p.content.rowChanges(id)) ns.add(c.n);
    // The entries are read concurrently (one positioned read each); the rest is index lookups.
    const found = await Promise.all(
      [...ns].map(async (n) => {
        const row = p.positions.row(n);
        if (row === undefined) return null;
        const feed = engine.store.feeds.get(row.feed);
        const entry = feed ? await feed.get(row.seq) : undefined;
        return { n, row, entry };
      }),
    );
    for (const f of found) {
      if (f === null) continue;
      const { n, row, entry } = f;
      const events = (entry?.events ?? [])
        .filter((e) => {
          const ev = e as { id?: unknown; root?: unknown };
          return ev.id === id || ev.root === id;
        })
        .map((e) => String((e as { type?: unknown }).type));
      const node = p.tree.nodeAt(id, n);
      const content = p.content.rowAt(id, n);
      const hash = content ? (content.pending === 0 && content.version ? content.version : versionHash(content.size, content.blocks)) : null;
      items.push({
        position: n,
        time: hlcWallMs(row.hlc),
        feed: row.feed,
        seq: row.seq,
        author: row.feed.slice(0, 64),
        events,
        id,
        path: pathAt(engine, id, n),
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
