/**
 * `realize diff A [B] [PATH]`: what changed between two positions, one line per node, like
 * `zfs diff`: added (+), removed (-), modified (M), renamed (R), metadata only (m).
 * Nodes are matched by id, so a rename is a rename, not a delete and an add.
 */
import { toHex, type NodeId } from '../log/index.js';
import type { NodeInfo } from './node-info.js';
import type { Snapshot } from './snapshot.js';

export type ChangeKind = 'added' | 'removed' | 'modified' | 'renamed' | 'metadata';

export interface Change {
  readonly kind: ChangeKind;
  readonly path: string;
  /** For a rename: where it was. */
  readonly from?: string;
  readonly id: NodeId;
  readonly nodeKind: string;
  /** Renamed nodes whose content also changed. */
  readonly modified?: boolean;
}

interface Seen {
  readonly path: string;
  readonly info: NodeInfo;
  readonly hash: string | null;
}

function walk(snap: Snapshot, root: string): Map<NodeId, Seen> {
  const out = new Map<NodeId, Seen>();
  const info = snap.lookup(root);
  if (info === undefined) return out;
  const visit = (path: string, node: NodeInfo): void => {
    const state = node.kind === 'file' ? snap.contentState(node.id) : undefined;
    // A hard-linked file is seen once, under its first path in name order.
    if (!out.has(node.id)) out.set(node.id, { path, info: node, hash: state ? toHex(state.hash) : null });
    if (node.kind !== 'dir') return;
    for (const e of snap.readdir(path)) visit(`${path === '/' ? '' : path}/${e.name}`, e.info);
  };
  visit(root, info);
  return out;
}

function metaDiffers(a: NodeInfo, b: NodeInfo): boolean {
  return a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid || a.mtime !== b.mtime || a.target !== b.target;
}

export function diffTrees(a: Snapshot, b: Snapshot, root = '/'): Change[] {
  const left = walk(a, root);
  const right = walk(b, root);
  const changes: Change[] = [];
  for (const [id, l] of left) {
    const r = right.get(id);
    if (r === undefined) {
      changes.push({ kind: 'removed', path: l.path, id, nodeKind: l.info.kind });
      continue;
    }
    const modified = l.info.kind === 'file' && l.hash !== r.hash;
    if (l.path !== r.path) changes.push({ kind: 'renamed', path: r.path, from: l.path, id, nodeKind: r.info.kind, ...(modified ? { modified } : {}) });
    else if (modified || (l.info.kind === 'symlink' && l.info.target !== r.info.target)) changes.push({ kind: 'modified', path: r.path, id, nodeKind: r.info.kind });
    else if (l.info.kind !== 'dir' && metaDiffers(l.info, r.info)) changes.push({ kind: 'metadata', path: r.path, id, nodeKind: r.info.kind });
    else if (l.info.kind === 'dir' && (l.info.mode !== r.info.mode || l.info.uid !== r.info.uid || l.info.gid !== r.info.gid)) {
      changes.push({ kind: 'metadata', path: r.path, id, nodeKind: r.info.kind });
    }
  }
  for (const [id, r] of right) if (!left.has(id)) changes.push({ kind: 'added', path: r.path, id, nodeKind: r.info.kind });
  changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return changes;
}

export const CHANGE_MARK: Record<ChangeKind, string> = { added: '+', removed: '-', modified: 'M', renamed: 'R', metadata: 'm' };
