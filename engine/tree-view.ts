/** What deciding needs to read of the current tree, and how paths resolve against it. */
import type { NodeId } from '../log/index.js';
import { ROOT_ID, type NodeRecord } from '../projections/index.js';
import { EngineError } from './engine-error.js';
import { joinPath } from './fs-path.js';

export interface TreeView {
  node(id: NodeId): NodeRecord | undefined;
  child(parent: NodeId, name: string): NodeId | undefined;
  hasChildren(id: NodeId): boolean;
  isWithin(id: NodeId, ancestor: NodeId): boolean;
  areaRoot(area: string): NodeId | undefined;
  xattr(id: NodeId, name: string): Uint8Array | undefined;
}

/** The root of the store: a directory listing the areas; not a node of any area. */
export const ROOT_NODE: NodeRecord = {
  kind: 'dir', mode: 0o755, uid: 0, gid: 0, atime: 0, mtime: 0, ctime: 0, nlink: 2, area: '',
};

export interface Resolved {
  readonly id: NodeId;
  readonly node: NodeRecord;
}

/** The node at `parts`; NOT_FOUND or NOT_A_DIRECTORY (a component that is not a directory). */
export function resolve(view: TreeView, parts: readonly string[]): Resolved {
  if (parts.length === 0) return { id: ROOT_ID, node: ROOT_NODE };
  const root = view.areaRoot(parts[0]!);
  if (root === undefined) throw new EngineError('NOT_FOUND', `no such area: ${parts[0]}`);
  let id = root;
  let node = view.node(root)!;
  for (let i = 1; i < parts.length; i++) {
    if (node.kind !== 'dir') throw new EngineError('NOT_A_DIRECTORY', `${joinPath(parts.slice(0, i))} is not a directory`);
    const next = view.child(id, parts[i]!);
    if (next === undefined) throw new EngineError('NOT_FOUND', `no such file or directory: ${joinPath(parts.slice(0, i + 1))}`);
    id = next;
    node = view.node(next)!;
  }
  return { id, node };
}

/** Like resolve, but undefined when the last component is missing (its parent must exist). */
export function resolveMaybe(view: TreeView, parts: readonly string[]): Resolved | undefined {
  try {
    return resolve(view, parts);
  } catch (err) {
    if (err instanceof EngineError && err.code === 'NOT_FOUND') {
      if (parts.length > 1) resolve(view, parts.slice(0, -1));
      return undefined;
    }
    throw err;
  }
}
