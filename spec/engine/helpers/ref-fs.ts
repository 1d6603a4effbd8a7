/**
 * A tiny in-memory reference filesystem: the model the engine is checked against. Plain
 * maps and buffers, no events, no blocks, no LMDB. It speaks the engine's path language
 * ("/" lists the areas, "/AREA/..." is inside one) and answers with the engine's error
 * codes, checked in the order the engine documents them (parse the path, resolve the
 * parent, then the node itself), so that every failing operation must fail the same way.
 *
 * Semantics kept from POSIX: names are bytes without "/" or NUL, at most 255 bytes, "." and
 * ".." are not names; symlinks are never followed; hard links share one node; rename
 * replaces a file, or an empty directory with a directory, never moves a directory into
 * its own subtree, and does nothing between two links of one file; a write past the end
 * fills the gap with zeros, truncate cuts or extends with zeros. Realize's own rules: only
 * areas live at the root (mkdir /NAME creates one; nothing else may), nothing moves or
 * links across areas, and a symlink's mode is always 0777.
 */
import { NAME_MAX, PATH_MAX } from '../../../log/index.js';
import type { EngineErrorCode } from '../../../engine/index.js';

export type Kind = 'file' | 'dir' | 'symlink';

export interface RefNode {
  readonly kind: Kind;
  readonly area: string;
  mode: number;
  uid: number;
  gid: number;
  /** Files: the content. */
  data: Buffer;
  /** Files and symlinks: the number of names. */
  links: number;
  target?: string;
  readonly xattrs: Map<string, Buffer>;
  /** Directories: entries by name. */
  readonly children?: Map<string, number>;
  /** Directories: the one parent (0 for an area root). */
  parent?: number;
}

export class RefError extends Error {
  constructor(readonly code: EngineErrorCode, message: string) {
    super(`${code}: ${message}`);
  }
}

const ROOT = 0;
const AREA_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

function fail(code: EngineErrorCode, why: string): never {
  throw new RefError(code, why);
}

/** Components of a path, as the engine reads them: empty ones dropped, bad ones refused. */
export function splitRef(path: string): string[] {
  if (Buffer.byteLength(path) > PATH_MAX) fail('NAME_TOO_LONG', 'path too long');
  const parts = path.split('/').filter((p) => p !== '');
  for (const p of parts) {
    if (Buffer.byteLength(p) > NAME_MAX) fail('NAME_TOO_LONG', `name too long: ${p.slice(0, 20)}...`);
    if (p === '.' || p === '..') fail('INVALID', `"${p}" is not a name`);
    if (p.includes('\0')) fail('INVALID', 'NUL in a name');
  }
  return parts;
}

export class RefFs {
  readonly nodes = new Map<number, RefNode>();
  readonly areas = new Map<string, number>();
  #next = 1;

  constructor() {
    this.nodes.set(ROOT, { kind: 'dir', area: '', mode: 0o755, uid: 0, gid: 0, data: Buffer.alloc(0), links: 1, xattrs: new Map(), children: new Map() });
  }

  node(id: number): RefNode {
    return this.nodes.get(id)!;
  }

  /** The node a path names (symlinks not followed). */
  resolve(parts: readonly string[]): number {
    if (parts.length === 0) return ROOT;
    let id = this.areas.get(parts[0]!);
    if (id === undefined) fail('NOT_FOUND', `no area ${parts[0]}`);
    for (let i = 1; i < parts.length; i++) {
      const n = this.node(id);
      if (n.kind !== 'dir') fail('NOT_A_DIRECTORY', `${parts.slice(0, i).join('/')} is not a directory`);
      const next = n.children!.get(parts[i]!);
      if (next === undefined) fail('NOT_FOUND', `no ${parts.slice(0, i + 1).join('/')}`);
      id = next;
    }
    return id;
  }

  #parentDir(parts: readonly string[]): number {
    const id = this.resolve(parts);
    if (this.node(id).kind !== 'dir') fail('NOT_A_DIRECTORY', `${parts.join('/')} is not a directory`);
    if (id === ROOT) fail('NOT_PERMITTED', 'only areas live at the root');
    return id;
  }

  #lastOf(path: string): { parent: string[]; name: string } {
    const parts = splitRef(path);
    const name = parts.pop();
    if (name === undefined) fail('INVALID', 'the root has no name');
    return { parent: parts, name };
  }

  #isWithin(id: number, ancestor: number): boolean {
    for (let cur: number | undefined = id; cur !== undefined && cur !== ROOT; cur = this.node(cur).parent) if (cur === ancestor) return true;
    return false;
  }

  #add(parent: number, name: string, node: Omit<RefNode, 'area' | 'xattrs' | 'data' | 'links'> & Partial<RefNode>): number {
    const id = this.#next++;
    const p = this.node(parent);
    this.nodes.set(id, { area: p.area, xattrs: new Map(), data: Buffer.alloc(0), links: 1, ...node, ...(node.kind === 'dir' ? { parent } : {}) } as RefNode);
    p.children!.set(name, id);
    return id;
  }

  /** Drops one name of node `id` (a directory goes with it). */
  #drop(parent: number, name: string, id: number): void {
    this.node(parent).children!.delete(name);
    const n = this.node(id);
    if (n.kind === 'dir') this.nodes.delete(id);
    else if (--n.links === 0) this.nodes.delete(id);
  }

  create(path: string, mode: number, uid: number, gid: number): void {
    const { parent, name } = this.#lastOf(path);
    const p = this.#parentDir(parent);
    if (this.node(p).children!.has(name)) fail('EXISTS', path);
    this.#add(p, name, { kind: 'file', mode: mode & 0o7777, uid, gid });
  }

  mkdir(path: string, mode: number, uid: number, gid: number): void {
    const { parent, name } = this.#lastOf(path);
    if (parent.length === 0) {
      if (!AREA_RE.test(name)) fail('INVALID', `bad area name ${name}`);
      if (this.areas.has(name)) fail('EXISTS', `area ${name}`);
      const id = this.#next++;
      this.nodes.set(id, { kind: 'dir', area: name, mode: mode & 0o7777, uid, gid, data: Buffer.alloc(0), links: 1, xattrs: new Map(), children: new Map(), parent: ROOT });
      this.areas.set(name, id);
      return;
    }
    const p = this.#parentDir(parent);
    if (this.node(p).children!.has(name)) fail('EXISTS', path);
    this.#add(p, name, { kind: 'dir', mode: mode & 0o7777, uid, gid, children: new Map() });
  }

  symlink(path: string, target: string, uid: number, gid: number): void {
    const { parent, name } = this.#lastOf(path);
    const p = this.#parentDir(parent);
    if (this.node(p).children!.has(name)) fail('EXISTS', path);
    this.#add(p, name, { kind: 'symlink', mode: 0o777, uid, gid, target });
  }

  link(path: string, newPath: string): void {
    const src = this.resolve(splitRef(path));
    const s = this.node(src);
    if (s.kind === 'dir') fail('NOT_PERMITTED', 'directories cannot be hard-linked');
    const { parent, name } = this.#lastOf(newPath);
    const p = this.#parentDir(parent);
    if (this.node(p).area !== s.area) fail('CROSS_AREA', `${path} -> ${newPath}`);
    if (this.node(p).children!.has(name)) fail('EXISTS', newPath);
    this.node(p).children!.set(name, src);
    s.links++;
  }

  unlink(path: string): void {
    this.#remove(path, false);
  }

  rmdir(path: string): void {
    this.#remove(path, true);
  }

  #remove(path: string, dir: boolean): void {
    const { parent, name } = this.#lastOf(path);
    if (parent.length === 0) fail('NOT_PERMITTED', 'areas are not removed this way');
    const p = this.#parentDir(parent);
    const id = this.node(p).children!.get(name);
    if (id === undefined) fail('NOT_FOUND', path);
    const n = this.node(id);
    if (!dir && n.kind === 'dir') fail('IS_A_DIRECTORY', path);
    if (dir && n.kind !== 'dir') fail('NOT_A_DIRECTORY', path);
    if (dir && n.children!.size > 0) fail('NOT_EMPTY', path);
    this.#drop(p, name, id);
  }

  rename(from: string, to: string): void {
    const f = this.#lastOf(from);
    const t = this.#lastOf(to);
    if (f.parent.length === 0 || t.parent.length === 0) fail('NOT_PERMITTED', 'areas cannot be renamed');
    const fp = this.#parentDir(f.parent);
    const id = this.node(fp).children!.get(f.name);
    if (id === undefined) fail('NOT_FOUND', from);
    const n = this.node(id);
    const tp = this.#parentDir(t.parent);
    if (this.node(tp).area !== n.area) fail('CROSS_AREA', `${from} -> ${to}`);
    if (n.kind === 'dir' && this.#isWithin(tp, id)) fail('INVALID', `${from} into its own subtree`);
    const target = this.node(tp).children!.get(t.name);
    if (target === id) return;
    if (target !== undefined) {
      const tn = this.node(target);
      if (tn.kind === 'dir') {
        if (n.kind !== 'dir') fail('IS_A_DIRECTORY', to);
        if (tn.children!.size > 0) fail('NOT_EMPTY', to);
      } else if (n.kind === 'dir') fail('NOT_A_DIRECTORY', to);
      this.#drop(tp, t.name, target);
    }
    this.node(fp).children!.delete(f.name);
    this.node(tp).children!.set(t.name, id);
    if (n.kind === 'dir') n.parent = tp;
  }

  /** The file at `path`, for a content operation. */
  #file(path: string): RefNode {
    const n = this.node(this.resolve(splitRef(path)));
    if (n.kind === 'dir') fail('IS_A_DIRECTORY', path);
    if (n.kind !== 'file') fail('INVALID', `${path} is not a regular file`);
    return n;
  }

  write(path: string, offset: number, data: Buffer): void {
    const n = this.#file(path);
    const end = offset + data.byteLength;
    if (end > n.data.byteLength) {
      const grown = Buffer.alloc(end);
      n.data.copy(grown);
      n.data = grown;
    }
    data.copy(n.data, offset);
  }

  truncate(path: string, size: number): void {
    const n = this.#file(path);
    const out = Buffer.alloc(size);
    n.data.copy(out, 0, 0, Math.min(size, n.data.byteLength));
    n.data = out;
  }

  /** Folds pending changes into a version: nothing a reader can see changes; non-files have none. */
  commit(path: string): void {
    this.resolve(splitRef(path));
  }

  setattr(path: string, f: { mode?: number; uid?: number; gid?: number }): void {
    const n = this.node(this.resolve(splitRef(path)));
    if (f.mode !== undefined && n.kind !== 'symlink') n.mode = f.mode & 0o7777;
    if (f.uid !== undefined) n.uid = f.uid;
    if (f.gid !== undefined) n.gid = f.gid;
  }

  setxattr(path: string, name: string, value: Buffer, flag?: 'create' | 'replace'): void {
    const n = this.node(this.resolve(splitRef(path)));
    const have = n.xattrs.has(name);
    if (flag === 'create' && have) fail('EXISTS', `xattr ${name}`);
    if (flag === 'replace' && !have) fail('NO_ATTRIBUTE', `xattr ${name}`);
    n.xattrs.set(name, Buffer.from(value));
  }

  removexattr(path: string, name: string): void {
    const n = this.node(this.resolve(splitRef(path)));
    if (!n.xattrs.has(name)) fail('NO_ATTRIBUTE', `xattr ${name}`);
    n.xattrs.delete(name);
  }

  /** What stat says of a node: dirs 2 + subdirectories, files and symlinks their names. */
  nlink(id: number): number {
    const n = this.node(id);
    if (n.kind !== 'dir') return n.links;
    let dirs = 0;
    for (const c of n.children!.values()) if (this.node(c).kind === 'dir') dirs++;
    return 2 + dirs;
  }

  size(id: number): number {
    const n = this.node(id);
    return n.kind === 'dir' ? 4096 : n.kind === 'symlink' ? Buffer.byteLength(n.target!) : n.data.byteLength;
  }
}
