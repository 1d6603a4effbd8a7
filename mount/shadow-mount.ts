/**
 * `realize mount --shadow`: the shadow view served read-only through FUSE (famfs-fuse's
 * "step 0"). The tree as `realize log replay --shadow` would write it, rendered on demand
 * from the projections: directories as directories holding `.realize-dir.yaml`, every file
 * and symlink as its YAML document. Nothing is written anywhere; no handler touches the
 * filesystem, let alone the mountpoint.
 */
import { mkdir } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import Fuse from 'fuse-native';
import { DIR_DOC, EngineError, emitShadow, shadowDoc, shadowName, treeName, type Engine, type NodeId } from '../engine/index.js';
import { errnoOf } from './errno.js';
import { isFuseMounted, probeMount, unmountPath } from './mount-table.js';
import { MountError } from './mount-error.js';

export interface ShadowMountOptions {
  readonly allowOther?: boolean;
  readonly attrTimeout?: number;
  readonly debug?: boolean;
  readonly log?: (line: string) => void;
  readonly pollMs?: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const O_ACCMODE = 3;

type Target = { kind: 'root' } | { kind: 'dir'; id: NodeId; path: string } | { kind: 'doc'; id: NodeId; path: string; dirDoc: boolean };

/** What a shadow path stands for: the root, a directory, or a document (of a node, or a directory's own). */
export function shadowTarget(engine: Engine, path: string): Target {
  const parts = path.split('/').filter((p) => p.length > 0);
  if (parts.length === 0) return { kind: 'root' };
  const p = engine.projections;
  const area = parts[0]!;
  let id = p.tree.areaRoot(area);
  if (id === undefined) throw new EngineError('NOT_FOUND', `no such area: ${area}`);
  let storePath = `/${area}`;
  for (let i = 1; i < parts.length; i++) {
    const node = p.tree.node(id);
    if (node === undefined || node.kind !== 'dir') throw new EngineError('NOT_A_DIRECTORY', `${storePath} is not a directory`);
    if (parts[i] === DIR_DOC && i === parts.length - 1) return { kind: 'doc', id, path: storePath, dirDoc: true };
    const name = treeName(parts[i]!);
    if (name === null) throw new EngineError('NOT_FOUND', `${parts[i]}: reserved name`);
    const child: NodeId | undefined = p.tree.child(id, name);
    if (child === undefined) throw new EngineError('NOT_FOUND', `no such file or directory: ${storePath}/${name}`);
    id = child;
    storePath = `${storePath}/${name}`;
  }
  const node = p.tree.node(id);
  if (node === undefined) throw new EngineError('NOT_FOUND', storePath);
  return node.kind === 'dir' ? { kind: 'dir', id, path: storePath } : { kind: 'doc', id, path: storePath, dirDoc: false };
}

/** The YAML bytes of a document target. */
export function renderDoc(engine: Engine, t: Extract<Target, { kind: 'doc' }>): Buffer {
  const p = engine.projections;
  const node = p.tree.node(t.id);
  if (node === undefined) throw new EngineError('NOT_FOUND', t.path);
  const isFile = node.kind === 'file';
  return Buffer.from(emitShadow(shadowDoc(t.path, t.id, node, isFile ? p.content.row(t.id) : undefined, isFile ? p.famfs.extents(t.id) : undefined)));
}

export function makeShadowOps(engine: Engine, onInternalError: (op: string, err: unknown) => void): Fuse.Operations {
  const open = new Map<number, Buffer>();
  let nextFd = 1;
  const fail = (op: string, err: unknown): number => errnoOf(err, (e) => onInternalError(op, e));
  function answer<T>(op: string, cb: (err: number, value?: T) => void, body: () => T): void {
    let v: T;
    try {
      v = body();
    } catch (err) {
      cb(fail(op, err));
      return;
    }
    cb(0, v);
  }
  const statOf = (t: Target): Fuse.Stat => {
    if (t.kind === 'root') return { mode: S_IFDIR | 0o555, uid: 0, gid: 0, size: 4096, nlink: 2, mtime: 0, ctime: 0, atime: 0 };
    const node = engine.projections.tree.node(t.id)!;
    const times = { mtime: node.mtime, ctime: node.ctime, atime: node.atime };
    if (t.kind === 'dir') return { mode: S_IFDIR | 0o555, uid: node.uid, gid: node.gid, size: 4096, nlink: 2, ...times };
    const size = renderDoc(engine, t).byteLength;
    return { mode: S_IFREG | 0o444, uid: node.uid, gid: node.gid, size, nlink: 1, blocks: Math.ceil(size / 512), blksize: 4096, ...times };
  };
  const rofs = (cb: (err: number) => void): void => cb(Fuse.EROFS);
  return {
    init: (cb) => cb(0),
    getattr: (path, cb) => answer('getattr', cb, () => statOf(shadowTarget(engine, path))),
    fgetattr: (path, _fd, cb) => answer('fgetattr', cb, () => statOf(shadowTarget(engine, path))),
    access: (path, _mode, cb) => answer('access', cb, () => void shadowTarget(engine, path)),
    readdir: (path, cb) =>
      answer('readdir', (err, names?: string[]) => cb(err, names), () => {
        const t = shadowTarget(engine, path);
        if (t.kind === 'root') return [...engine.projections.tree.areas()].map((a) => a.area);
        if (t.kind !== 'dir') throw new EngineError('NOT_A_DIRECTORY', path);
        const names = [DIR_DOC];
        for (const { name } of engine.projections.tree.children(t.id)) names.push(shadowName(name));
        return names;
      }),
    open: (path, flags, cb) =>
      answer('open', cb, () => {
        if ((flags & O_ACCMODE) !== 0) throw new EngineError('READ_ONLY', 'the shadow view is read-only');
        const t = shadowTarget(engine, path);
        if (t.kind !== 'doc') throw new EngineError('IS_A_DIRECTORY', path);
        const fd = nextFd++;
        open.set(fd, renderDoc(engine, t)); // one open reads one rendering, whatever changes meanwhile
        return fd;
      }),
    read: (_path, fd, buffer, length, position, cb) => {
      const doc = open.get(fd);
      if (doc === undefined) return cb(Fuse.EBADF);
      if (position >= doc.byteLength) return cb(0);
      cb(doc.copy(buffer, 0, position, Math.min(doc.byteLength, position + length)));
    },
    release: (_path, fd, cb) => {
      open.delete(fd);
      cb(0);
    },
    statfs: (_path, cb) => cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 1, namemax: 255 }),
    write: (_p, _fd, _b, _l, _pos, cb) => cb(Fuse.EROFS),
    create: (_p, _m, cb) => rofs(cb),
    truncate: (_p, _s, cb) => rofs(cb),
    ftruncate: (_p, _fd, _s, cb) => rofs(cb),
    unlink: (_p, cb) => rofs(cb),
    rmdir: (_p, cb) => rofs(cb),
    mkdir: (_p, _m, cb) => rofs(cb),
    rename: (_a, _b, cb) => rofs(cb),
    link: (_a, _b, cb) => rofs(cb),
    symlink: (_a, _b, cb) => rofs(cb),
    chmod: (_p, _m, cb) => rofs(cb),
    chown: (_p, _u, _g, cb) => rofs(cb),
    utimens: (_p, _a, _m, cb) => rofs(cb),
  };
}

export class ShadowMount {
  readonly mountpoint: string;
  readonly #fuse: Fuse;
  readonly #log: (line: string) => void;
  readonly #pollMs: number;
  #poll: NodeJS.Timeout | null = null;
  #stopping: Promise<void> | null = null;
  readonly #ended: Promise<void>;
  #end!: () => void;

  private constructor(engine: Engine, mountpoint: string, opts: ShadowMountOptions) {
    this.mountpoint = mountpoint;
    this.#log = opts.log ?? (() => undefined);
    this.#pollMs = opts.pollMs ?? 1000;
    const t = opts.attrTimeout ?? 1;
    this.#fuse = new Fuse(mountpoint, makeShadowOps(engine, (op, err) => this.#log(`realize mount --shadow: ${op} failed: ${(err as Error)?.stack ?? String(err)}`)), {
      force: true,
      debug: opts.debug === true,
      allowOther: opts.allowOther === true,
      fsname: 'realize-shadow',
      subtype: 'realize-shadow',
      timeout: false,
      options: ['ro', 'auto_cache', `attr_timeout=${t}`, `entry_timeout=${t}`],
    });
    this.#ended = new Promise((r) => (this.#end = r));
  }

  static async start(engine: Engine, mountpoint: string, opts: ShadowMountOptions = {}): Promise<ShadowMount> {
    const mp = resolvePath(mountpoint);
    const state = await probeMount(mp);
    if (state === 'alive') throw new MountError('BUSY', `${mp} is already mounted and served by another process`);
    if (state === 'stale') await unmountPath(mp, true);
    await mkdir(mp, { recursive: true });
    const m = new ShadowMount(engine, mp, opts);
    await new Promise<void>((res, rej) => m.#fuse.mount((err) => (err ? rej(new MountError('MOUNT_FAILED', `cannot mount at ${mp}: ${err.message}`)) : res())));
    m.#poll = setInterval(() => {
      isFuseMounted(mp).then(
        (mounted) => {
          if (!mounted && m.#stopping === null) void m.stop();
        },
        () => undefined,
      );
    }, m.#pollMs);
    m.#poll.unref();
    return m;
  }

  get ended(): Promise<void> {
    return this.#ended;
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#poll) clearInterval(this.#poll);
      await new Promise<void>((res) => this.#fuse.unmount(() => res()));
      if (await isFuseMounted(this.mountpoint).catch(() => false)) await unmountPath(this.mountpoint, true).catch(() => undefined);
      this.#end();
    })();
    return this.#stopping;
  }
}
