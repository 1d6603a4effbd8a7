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
  /** The node's first path in name order. */
  readonly path: string;
  readonly info: NodeInfo;
  readonly hash: string | null;
  /** Its extended attributes, name=value (hex), in name order. */
  readonly xattrs: string;
  /** Its names: `${parent id}/${name}` -> path (a hard-linked file has several). */
  readonly links: Map<string, string>;
}

function walk(snap: Snapshot, root: string): Map<NodeId, Seen> {
  const out = new Map<NodeId, Seen>();
  const info = snap.lookup(root);
  if (info === undefined) return out;
  const visit = (path: string, link: string, node: NodeInfo): void => {
    const seen = out.get(node.id);
    if (seen !== undefined) {
      seen.links.set(link, path);
      return;
    }
    const state = node.kind === 'file' ? snap.contentState(node.id) : undefined;
    const xattrs = snap
      .listxattr(node.id)
      .sort()
      .map((name) => `${name}=${toHex(snap.getxattr(node.id, name))}`)
      .join('\0');
    out.set(node.id, { path, info: node, hash: state ? toHex(state.hash) : null, xattrs, links: new Map([[link, path]]) });
    if (node.kind !== 'dir') return;
    for (const e of snap.readdir(path)) visit(`${path === '/' ? '' : path}/${e.name}`, `${node.id}/${e.name}`, e.info);
  };
  // The top of the walk is PATH on both sides: it is not a name that changed.
  visit(root, '', info);
  return out;
}

function metaDiffers(a: Seen, b: Seen): boolean {
  const x = a.info;
  const y = b.info;
  return x.mode !== y.mode || x.uid !== y.uid || x.gid !== y.gid || x.mtime !== y.mtime || x.target !== y.target || a.xattrs !== b.xattrs;
}

/**
 * Nodes are matched by id, and their names by (parent id, name): a node whose own entry moved
 * is renamed; the nodes below a moved directory are not (their entries did not change). A
 * hard link made or removed is an added or removed name of the file.
 */
export function diffTrees(a: Snapshot, b: Snapshot, root = '/'): Change[] {
  const left = walk(a, root);
  const right = walk(b, root);
  const changes: Change[] = [];
  for (const [id, l] of left) {
    const r = right.get(id);
    const nodeKind = l.info.kind;
    if (r === undefined) {
      for (const path of l.links.values()) changes.push({ kind: 'removed', path, id, nodeKind });
      continue;
    }
    const modified = l.info.kind === 'file' && l.hash !== r.hash;
    const gone = [...l.links].filter(([k]) => !r.links.has(k)).map(([, p]) => p);
    const made = [...r.links].filter(([k]) => !l.links.has(k)).map(([, p]) => p);
    const pairs = Math.min(gone.length, made.length);
    for (let i = 0; i < pairs; i++) changes.push({ kind: 'renamed', path: made[i]!, from: gone[i]!, id, nodeKind: r.info.kind, ...(modified ? { modified } : {}) });
    for (const path of gone.slice(pairs)) changes.push({ kind: 'removed', path, id, nodeKind });
    for (const path of made.slice(pairs)) changes.push({ kind: 'added', path, id, nodeKind });
    if (pairs > 0 && modified) continue;
    if (modified || (l.info.kind === 'symlink' && l.info.target !== r.info.target)) changes.push({ kind: 'modified', path: r.path, id, nodeKind: r.info.kind });
    else if (l.info.kind !== 'dir' && metaDiffers(l, r)) changes.push({ kind: 'metadata', path: r.path, id, nodeKind: r.info.kind });
    else if (l.info.kind === 'dir' && (l.info.mode !== r.info.mode || l.info.uid !== r.info.uid || l.info.gid !== r.info.gid || l.xattrs !== r.xattrs)) {
      changes.push({ kind: 'metadata', path: r.path, id, nodeKind: r.info.kind });
    }
  }
  for (const [id, r] of right) {
    if (!left.has(id)) for (const path of r.links.values()) changes.push({ kind: 'added', path, id, nodeKind: r.info.kind });
  }
  changes.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  return changes;
}

export const CHANGE_MARK: Record<ChangeKind, string> = { added: '+', removed: '-', modified: 'M', renamed: 'R', metadata: 'm' };
