/**
 * A reference filesystem for the time-travel tests: paths -> inodes, written independently of
 * the engine (hard links share an inode object). After each entry of a story its state is
 * deep-copied into a ModelState, the expected tree at that position.
 */
export type Kind = 'file' | 'dir' | 'symlink';

export interface MInode {
  kind: Kind;
  mode: number;
  uid: number;
  gid: number;
  data: Buffer;
  target?: string;
  xattrs: Map<string, Buffer>;
  nlink: number;
}

/** What one path holds at one position. */
export interface MEntry {
  readonly kind: Kind;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly size: number;
  readonly target?: string;
  readonly data?: Buffer;
  readonly xattrs: Readonly<Record<string, string>>;
}

/** The expected tree at one position: every path below "/" (areas included), sorted. */
export type ModelState = ReadonlyMap<string, MEntry>;

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export class Model {
  readonly paths = new Map<string, MInode>();

  #need(path: string): MInode {
    const n = this.paths.get(path);
    if (n === undefined) throw new Error(`model: no ${path}`);
    return n;
  }

  #fresh(path: string, node: Omit<MInode, 'xattrs' | 'data' | 'nlink'>): void {
    if (this.paths.has(path)) throw new Error(`model: ${path} exists`);
    if (parentOf(path) !== '/' && this.paths.get(parentOf(path))?.kind !== 'dir') throw new Error(`model: no directory ${parentOf(path)}`);
    this.paths.set(path, { ...node, data: Buffer.alloc(0), xattrs: new Map(), nlink: 1 });
  }

  mkdir(path: string, mode: number, uid: number, gid: number): void {
    this.#fresh(path, { kind: 'dir', mode, uid, gid });
  }

  create(path: string, mode: number, uid: number, gid: number): void {
    this.#fresh(path, { kind: 'file', mode, uid, gid });
  }

  symlink(path: string, target: string, uid: number, gid: number): void {
    this.#fresh(path, { kind: 'symlink', mode: 0o777, uid, gid, target });
  }

  link(path: string, newPath: string): void {
    const n = this.#need(path);
    if (this.paths.has(newPath)) throw new Error(`model: ${newPath} exists`);
    n.nlink++;
    this.paths.set(newPath, n);
  }

  write(path: string, offset: number, data: Uint8Array): void {
    const n = this.#need(path);
    const out = Buffer.alloc(Math.max(n.data.length, offset + data.byteLength));
    n.data.copy(out);
    out.set(data, offset);
    n.data = out;
  }

  truncate(path: string, size: number): void {
    const n = this.#need(path);
    const out = Buffer.alloc(size);
    n.data.copy(out, 0, 0, Math.min(size, n.data.length));
    n.data = out;
  }

  unlink(path: string): void {
    const n = this.#need(path);
    if (n.kind === 'dir') throw new Error(`model: ${path} is a directory`);
    n.nlink--;
    this.paths.delete(path);
  }

  rmdir(path: string): void {
    const n = this.#need(path);
    if (n.kind !== 'dir') throw new Error(`model: ${path} is not a directory`);
    if ([...this.paths.keys()].some((p) => p.startsWith(`${path}/`))) throw new Error(`model: ${path} is not empty`);
    this.paths.delete(path);
  }

  /** rename(2): a file or empty directory at `to` is replaced; a directory moves with its subtree. */
  rename(from: string, to: string): void {
    const n = this.#need(from);
    const old = this.paths.get(to);
    if (old === n) return;
    if (old !== undefined) {
      if (old.kind === 'dir') this.rmdir(to);
      else this.unlink(to);
    }
    const moved = [...this.paths].filter(([p]) => p === from || p.startsWith(`${from}/`));
    for (const [p] of moved) this.paths.delete(p);
    for (const [p, node] of moved) this.paths.set(`${to}${p.slice(from.length)}`, node);
  }

  setattr(path: string, attrs: { mode?: number; uid?: number; gid?: number }): void {
    const n = this.#need(path);
    if (attrs.mode !== undefined && n.kind !== 'symlink') n.mode = attrs.mode;
    if (attrs.uid !== undefined) n.uid = attrs.uid;
    if (attrs.gid !== undefined) n.gid = attrs.gid;
  }

  setxattr(path: string, name: string, value: Uint8Array): void {
    this.#need(path).xattrs.set(name, Buffer.from(value));
  }

  removexattr(path: string, name: string): void {
    this.#need(path).xattrs.delete(name);
  }

  get(path: string): MInode | undefined {
    return this.paths.get(path);
  }

  /** A deep copy of the state, as the tree at this position should show it. */
  state(): ModelState {
    const out = new Map<string, MEntry>();
    for (const path of [...this.paths.keys()].sort()) {
      const n = this.paths.get(path)!;
      const subdirs = n.kind === 'dir' ? [...this.paths].filter(([p, c]) => c.kind === 'dir' && parentOf(p) === path).length : 0;
      out.set(path, {
        kind: n.kind,
        mode: n.mode,
        uid: n.uid,
        gid: n.gid,
        nlink: n.kind === 'dir' ? 2 + subdirs : n.nlink,
        size: n.kind === 'dir' ? 4096 : n.kind === 'symlink' ? Buffer.byteLength(n.target!) : n.data.length,
        ...(n.target !== undefined ? { target: n.target } : {}),
        ...(n.kind === 'file' ? { data: Buffer.from(n.data) } : {}),
        xattrs: Object.fromEntries([...n.xattrs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, v.toString('hex')])),
      });
    }
    return out;
  }
}
