/**
 * The fuse-native operation table over the engine. Every handler answers through one
 * wrapper that maps errors to errnos (mount/errno.ts). No handler touches the filesystem
 * synchronously, and nothing here ever reaches into the mountpoint itself.
 */
import { statfs as statfsAsync } from 'node:fs/promises';
import Fuse from 'fuse-native';
import { contentToken, copyBytes, EngineError, WriteCache, type Command, type Engine, type HeldAttrs, type NodeId, type NodeInfo, type Snapshot } from '../engine/index.js';
import { packStat, STAT_DOUBLES, toStat, type StatFields } from './attr.js';
import { AttrFill } from './attr-fill.js';
import { AttrChanges, removalChanges } from './attr-changes.js';
import { ListingPrefetch, listingForm } from './listing-prefetch.js';
import { errnoOf } from './errno.js';
import { FdTable, type OpenFile } from './fd-table.js';
import { DirCache } from './dir-cache.js';
import { KernelPages } from './kernel-pages.js';
import type { StagedWrites } from './staged-writes.js';
import type { RemovalQueue } from './removal-queue.js';
import { markNode, parsePlacement, placementOf } from '../engine/placement/index.js';
import { isVirtual, PLACEMENT_XATTR, virtualNames, virtualXattr } from './virtual-xattrs.js';

const O_ACCMODE = 3;
const O_WRONLY = 1;
const O_RDWR = 2;
const O_TRUNC = 0o1000;
const XATTR_CREATE = 1;
const XATTR_REPLACE = 2;
const UNCHANGED_ID = 0xffffffff;
/**
 * POSIX ACLs: the kernel hands these to a libfuse 2 filesystem as plain xattrs and enforces
 * none of them (default_permissions checks the mode bits only). Storing them would show an ACL
 * that is not in force, and cp -a / tar / rsync would set it instead of the mode: refusing
 * them (EOPNOTSUPP) makes those tools fall back to chmod.
 */
const POSIX_ACL = /^system\.posix_acl_(access|default)$/;

export interface OpsOptions {
  readonly readOnly: boolean;
  /** What reads see: the head (default), or a past position for a read-only mount. */
  readonly reader?: Snapshot;
  /** Called with errors no errno describes (they answer EIO). */
  readonly onInternalError: (op: string, err: unknown) => void;
  /** What the kernel's page cache holds (the write cache's onStored must report to it too). */
  readonly pages?: KernelPages;
  /** Writes answered on the FUSE threads (writable mounts; the write cache's exclusive/onShrink must be its). */
  readonly staged?: StagedWrites;
  /** Removals name what they changed in the addon's attribute cache (the mount's headChanged must ask it whether to forget it all). */
  readonly attrChanges?: AttrChanges;
  /** Unlinks answered once decided, applied together (removal-queue.ts); every other request applies them first. */
  readonly removals?: RemovalQueue;
}

type Cb<T> = (err: number, value?: T) => void;

export function makeOps(engine: Engine, cache: WriteCache, fds: FdTable, opts: OpsOptions): Fuse.Operations {
  const reader = opts.reader ?? engine.head;
  /** Paths resolve through the directory cache at the head; a past snapshot resolves them itself. */
  const dirs = reader === engine.head ? new DirCache(engine) : null;
  const statPath = (path: string): NodeInfo => (dirs ? dirs.stat(path) : reader.stat(path));
  const idOf = (path: string): string => (dirs ? dirs.idOf(path) : reader.idOf(path));
  /** Reads of file content: through the write cache at the head, straight from the snapshot in the past. */
  // Read into the kernel's buffer where the engine can (no copy, no fresh 1 MiB result a read).
  const readContent = (id: string, offset: number, length: number, into?: Buffer): Promise<Buffer> =>
    reader === engine.head ? cache.read(id, offset, length, into) : reader.read(id, offset, length, into);
  const fail = (op: string) => (err: unknown) => errnoOf(err, (e) => opts.onInternalError(op, e));
  /** This peer's placement of a node: Real or Unreal (engine/placement). */
  const placementLabel = (id: string): string => placementOf(engine.projections, engine.store.publicKey, id).placement;
  const pages = opts.pages ?? new KernelPages();
  /** The content the kernel's pages of a file must hold to be kept: at a past position it never changes. */
  const tokenOf = (id: NodeId): string | null => (reader === engine.head ? contentToken(engine, id) : 'past');
  /** The kernel's inode of the request being handled (0 outside a request, or an old addon). */
  const requestInode = (): number => Fuse.context()?.nodeid ?? 0;
  const staged = opts.readOnly ? undefined : opts.staged;
  const removals = opts.readOnly || reader !== engine.head ? undefined : opts.removals;
  /** The first write through a handle names the kernel inode it was opened on. */
  const firstWrite = (file: OpenFile, inode: number): void => {
    file.written = true;
    if (file.inode !== 0) return;
    file.inode = inode;
    if (file.createdToken !== undefined) pages.created(file.inode, file.id, file.createdToken);
  };
  staged?.start(cache, fds, { onWrite: firstWrite, onInternalError: opts.onInternalError });
  /** The attributes handed to the FUSE threads' cache (attr-fill.ts), at the head only. */
  const attrFill = dirs
    ? new AttrFill(engine, { fill: (paths, stats) => Fuse.attrFillPacked(paths, stats), generation: () => Fuse.attrGeneration() }, (id, fields) =>
        fields.kind !== 'file' || cache.view(id) === undefined,
      )
    : null;

  /** Listings of the directories a traversal reads next, handed to the FUSE threads (listing-prefetch.ts), at the head only. */
  const prefetch = dirs
    ? new ListingPrefetch(engine.head, { fill: (paths, names, counts, kinds) => Fuse.listingFill(paths, names, counts, kinds), generation: () => Fuse.attrGeneration() })
    : null;

  /** Runs a handler body and answers: value on success, errno on failure. */
  function answer<T>(op: string, cb: Cb<NoInfer<T>>, body: () => T | Promise<T>): void {
    let result: T | Promise<T>;
    try {
      result = body();
    } catch (err) {
      cb(fail(op)(err));
      return;
    }
    if (result instanceof Promise) result.then((v) => cb(0, v), (err: unknown) => cb(fail(op)(err)));
    else cb(0, result);
  }

  const caller = (): { uid: number; gid: number } => {
    const ctx = Fuse.context();
    return { uid: ctx?.uid ?? process.getuid?.() ?? 0, gid: ctx?.gid ?? process.getgid?.() ?? 0 };
  };

  const writable = (): void => {
    if (opts.readOnly) throw new EngineError('READ_ONLY', 'mounted read-only');
  };

  /** Applies a namespace command now; durability follows in the next group commit. */
  const submit = async (cmd: Command): Promise<void> => {
    writable();
    const { durable } = await engine.submit(cmd);
    durable.catch((err: unknown) => opts.onInternalError('commit', err));
  };

  /** The attributes of the directory holding `path` (undefined: the root or an area holds it, or none is found). */
  const parentOf = (path: string): NodeInfo | undefined => {
    const cut = path.lastIndexOf('/');
    if (cut <= 0) return undefined;
    try {
      return dirs!.find(path.slice(0, cut));
    } catch {
      return undefined;
    }
  };

  /**
   * An unlink or rmdir: applied now, answered with what it changed in the addon's attribute
   * cache (attr-changes.ts), so the rest of the cache stays. Not for a file with other links
   * (their nlink and ctime change, by names not known here): the cache is forgotten then.
   * An unlink of a file's only name is answered once decided and applied with the next ones
   * (removal-queue.ts), synchronously (no promise on rm's path); the parent's new attributes
   * are then its times changed to the unlink's (nothing else of it changes).
   */
  const remove = (path: string, cmd: Command & { type: 'unlink' | 'rmdir' }): Fuse.AttrChanges | undefined | Promise<Fuse.AttrChanges | undefined> => {
    writable();
    const changes = attrFill !== null ? opts.attrChanges : undefined;
    if (removals !== undefined && changes !== undefined && cmd.type === 'unlink') {
      const held = removals.hold(cmd);
      if (held !== false) {
        const parent = parentOf(path);
        return removalChanges(path, parent === undefined ? undefined : { ...parent, mtime: held.time, ctime: held.time });
      }
    }
    return removeNow(path, cmd, changes);
  };

  const removeNow = async (path: string, cmd: Command & { type: 'unlink' | 'rmdir' }, changes: AttrChanges | undefined): Promise<Fuse.AttrChanges | undefined> => {
    const before = changes !== undefined && dirs !== null ? dirs.find(path) : undefined;
    if (changes === undefined || before === undefined || (before.kind === 'file' && before.nlink > 1)) {
      await submit(cmd);
      return undefined;
    }
    const { durable } = await changes.run(() => engine.submit(cmd));
    durable.catch((err: unknown) => opts.onInternalError('commit', err));
    // Done: what is answered now is the removal's success, whatever can be told of the parent.
    return removalChanges(path, parentOf(path));
  };

  /** Attributes, with the size, write time and held attribute changes of data still in the write cache. */
  const statOf = (info: NodeInfo): Fuse.Stat => {
    if (info.kind !== 'file') return toStat(info);
    const v = cache.view(info.id);
    if (v === undefined) return toStat(info);
    let recent: StatFields = v.written > info.mtime ? { ...info, mtime: v.written, ctime: Math.max(info.ctime, v.written) } : info;
    if (v.attrs !== null) recent = { ...recent, ...v.attrs, ctime: Math.max(recent.ctime, v.changed) };
    return toStat(recent, v.size);
  };

  /** statOf's answer packed for the addon (getattr's common case: no Stat object made). */
  const packedStatOf = (info: NodeInfo): Float64Array | Fuse.Stat => {
    if (info.kind === 'file' && cache.view(info.id) !== undefined) return statOf(info);
    const packed = new Float64Array(STAT_DOUBLES);
    packStat(packed, 0, info);
    return packed;
  };

  /**
   * The attributes a change left at `path`, handed ahead with its answer: libfuse 2 asks for
   * them right after the change, in the same request, and the patched addon answers that from
   * these instead of a second round trip (see ChangeCallback). Undefined when they cannot be had
   * by path (then libfuse asks getattr as before).
   */
  const after = (path: string): Fuse.Stat | undefined => {
    if (path === '') return undefined;
    try {
      const info = dirs ? dirs.find(path) : reader.stat(path);
      return info === undefined ? undefined : statOf(info);
    } catch {
      return undefined;
    }
  };

  /** The attributes of an open file, by its handle (fgetattr's answer), for a change made through it. */
  const afterFd = (fd: number): Fuse.Stat | undefined => {
    const f = fds.get(fd);
    const info = f === undefined ? undefined : reader.info(f.id);
    return info === undefined ? undefined : statOf(info);
  };

  /** libfuse passes path "" for a file unlinked while open: such a node is reached by its handle only. */
  const byPath = (path: string): NodeInfo => {
    if (path === '') throw new EngineError('NOT_FOUND', 'the node has no path any more');
    return statPath(path);
  };

  const fileOf = (fd: number) => {
    const f = fds.get(fd);
    if (f === undefined) throw new EngineError('BAD_ARGUMENT', `no open file with handle ${fd}`);
    return f;
  };

  const openFile = (path: string, flags: number): number => {
    const info = statPath(path);
    if (info.kind === 'dir') throw new EngineError('IS_A_DIRECTORY', `${path} is a directory`);
    const acc = flags & O_ACCMODE;
    if (opts.readOnly && (acc === O_WRONLY || acc === O_RDWR || (flags & O_TRUNC) !== 0)) throw new EngineError('READ_ONLY', 'mounted read-only');
    return fds.open(info.id, flags);
  };

  /**
   * A file with data still in the write cache takes the change with that data, in the entry
   * of its flush (WriteCache.holdAttrs); anything else is an entry now.
   */
  const setattr = async (path: string, fields: HeldAttrs): Promise<void> => {
    writable();
    const info = statPath(path);
    if (info.kind === 'file' && cache.holdAttrs(info.id, fields)) return;
    await submit({ type: 'setattr', id: info.id, ...fields });
  };

  const ops: Fuse.Operations = {
    init: (cb) => cb(0),

    statfs: (_path, cb) =>
      answer('statfs', cb, async () => {
        const s = await statfsAsync(engine.store.layout.root);
        return { bsize: s.bsize, frsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, favail: s.ffree, fsid: 0, flag: 0, namemax: 255 };
      }),

    getattr: (path, cb) => {
      // A name not there is answered without building an error (see DirCache.find).
      let info: NodeInfo | undefined;
      try {
        info = dirs ? dirs.find(path) : reader.stat(path);
      } catch (err) {
        cb(fail('getattr')(err));
        return;
      }
      if (info === undefined) {
        cb(Fuse.ENOENT);
        return;
      }
      attrFill?.missed(path, idOf);
      cb(0, packedStatOf(info));
    },

    fgetattr: (path, fd, cb) =>
      answer('fgetattr', cb, () => {
        const f = fds.get(fd);
        const info = f ? reader.info(f.id) : byPath(path);
        if (info === undefined) throw new EngineError('NOT_FOUND', path);
        return statOf(info);
      }),

    access: (path, _mode, cb) => answer('access', cb, () => void statPath(path)),

    // Names with their inode numbers and types: the kernel learns each entry's type (d_type)
    // from them, so find and ls need no lookup per entry to tell directories from files. In
    // the patch's listing form: one string of names, (mode, ino) pairs in one Float64Array.
    readdir: (path, cb) => {
      let names: string;
      let kinds: Float64Array;
      try {
        const dir = statPath(path === '' ? '/' : path);
        const entries = path === '' ? [] : reader.readdirKinds(path);
        kinds = new Float64Array(2 * (entries.length + 2));
        names = listingForm(dir, entries, kinds);
      } catch (err) {
        cb(fail('readdir')(err));
        return;
      }
      // Inside the handler (the addon keeps what is handed over for this request's generation).
      try {
        if (path !== '') prefetch?.listed(path);
      } catch (err) {
        opts.onInternalError('readdir', err); // the listing itself is answered all the same
      }
      cb(0, names, kinds);
    },

    readlink: (path, cb) => answer('readlink', cb, () => reader.readlink(path)),

    // The kernel keeps the file's cached pages when they still hold its content (kernel-pages.ts).
    open: (path, flags, cb) => {
      let fd: number;
      let keep: boolean;
      try {
        fd = openFile(path, flags);
        const f = fileOf(fd);
        f.inode = requestInode();
        keep = pages.open(f.inode, f.id, tokenOf(f.id), cache.has(f.id));
        if ((flags & O_ACCMODE) !== 0) staged?.open(fd);
      } catch (err) {
        cb(fail('open')(err));
        return;
      }
      cb(0, fd, keep);
    },

    create: (path, mode, cb) => {
      const owner = caller();
      answer<{ fd: number; stat: Fuse.Stat | undefined }>('create', (err, v) => cb(err, v?.fd, v?.stat), async () => {
        await submit({ type: 'create', path, mode, owner });
        const fd = openFile(path, O_RDWR);
        const f = fileOf(fd);
        f.createdToken = tokenOf(f.id); // the new inode is known at its first write
        staged?.open(fd);
        return { fd, stat: afterFd(fd) };
      });
    },

    read: (_path, fd, buffer, length, position, cb) => {
      let id: string;
      try {
        id = fileOf(fd).id;
      } catch (err) {
        cb(fail('read')(err));
        return;
      }
      readContent(id, position, length, buffer).then(
        (data) => cb(data.buffer === buffer.buffer && data.byteOffset === buffer.byteOffset ? Math.min(length, data.byteLength) : copyBytes(buffer, data.subarray(0, Math.min(length, data.byteLength)), 0)),
        (err: unknown) => cb(fail('read')(err)),
      );
    },

    write: (_path, fd, buffer, length, position, cb) => {
      let file;
      try {
        writable();
        file = fileOf(fd);
      } catch (err) {
        cb(fail('write')(err));
        return;
      }
      if (file.inode === 0) firstWrite(file, requestInode());
      file.written = true;
      try {
        if (cache.writeNow(file.id, position, buffer.subarray(0, length), file.inode)) {
          staged?.wrote(fd);
          cb(length);
          return;
        }
      } catch (err) {
        cb(fail('write')(err));
        return;
      }
      cache.write(file.id, position, buffer.subarray(0, length), file.inode).then(
        () => {
          staged?.wrote(fd);
          cb(length);
        },
        (err: unknown) => cb(fail('write')(err)),
      );
    },

    flush: (_path, fd, cb) =>
      answer('flush', cb, async () => {
        const f = fds.get(fd);
        // The close of the file's only handle: its data and the commit that folds it into a
        // new version go in one entry (release then finds nothing left to commit).
        if (f?.written) await cache.flush(f.id, { commit: !opts.readOnly && fds.count(f.id) === 1 });
        // The entry's rows stay held (projections/held-writes.ts) with the next ones: a reader
        // in another process asks for them when it opens the store (the control op settle).
      }),

    fsync: (_path, _datasync, fd, cb) =>
      answer('fsync', cb, async () => {
        const f = fds.get(fd);
        if (f) await cache.flush(f.id, { durable: true });
        else await engine.flush();
        if (!opts.readOnly) engine.projections.settle('fsync');
      }),

    fsyncdir: (_path, _datasync, _fd, cb) => answer('fsyncdir', cb, () => engine.flush()),

    release: (_path, fd, cb) =>
      answer('release', cb, async () => {
        staged?.close(fd);
        const closed = fds.close(fd);
        if (closed === undefined) return;
        if (closed.file.written || cache.has(closed.file.id)) await cache.flush(closed.file.id);
        const info = reader.info(closed.file.id);
        if (closed.last && info?.nlink === 0) {
          cache.discard(closed.file.id); // unlinked while open: its data goes with its last handle
          return;
        }
        if (info === undefined) return;
        if (closed.last && !opts.readOnly) {
          const state = reader.contentState(closed.file.id);
          if (state && (state.pending > 0 || state.commits === 0)) {
            const { durable } = await engine.submit({ type: 'commit', id: closed.file.id });
            durable.catch((err: unknown) => opts.onInternalError('commit', err));
          }
        }
      }),

    truncate: (path, size, cb) =>
      answer('truncate', cb, async () => {
        writable();
        const info = statPath(path);
        if (info.kind === 'dir') throw new EngineError('IS_A_DIRECTORY', `${path} is a directory`);
        await (staged ? staged.closedWhile(info.id, () => cache.truncate(info.id, size)) : cache.truncate(info.id, size));
        return after(path);
      }),

    ftruncate: (_path, fd, size, cb) =>
      answer('ftruncate', cb, async () => {
        writable();
        const f = fileOf(fd);
        f.written = true;
        await (staged ? staged.closedWhile(f.id, () => cache.truncate(f.id, size)) : cache.truncate(f.id, size));
        return afterFd(fd);
      }),

    unlink: (path, cb) => answer('unlink', cb, () => remove(path, { type: 'unlink', path })),
    rmdir: (path, cb) => answer('rmdir', cb, () => remove(path, { type: 'rmdir', path })),
    rename: (src, dest, cb) => answer('rename', cb, () => submit({ type: 'rename', from: src, to: dest })),
    link: (src, dest, cb) => answer('link', cb, () => submit({ type: 'link', path: src, newPath: dest }).then(() => after(dest))),

    mkdir: (path, mode, cb) => {
      const owner = caller();
      answer('mkdir', cb, () => submit({ type: 'mkdir', path, mode, owner }).then(() => after(path)));
    },

    symlink: (target, path, cb) => {
      const owner = caller();
      answer('symlink', cb, () => submit({ type: 'symlink', path, target, owner }).then(() => after(path)));
    },

    chmod: (path, mode, cb) => answer('chmod', cb, () => setattr(path, { mode: mode & 0o7777 }).then(() => after(path))),

    chown: (path, uid, gid, cb) =>
      answer('chown', cb, () =>
        setattr(path, { ...(uid !== UNCHANGED_ID && uid !== -1 ? { uid } : {}), ...(gid !== UNCHANGED_ID && gid !== -1 ? { gid } : {}) }).then(() => after(path)),
      ),

    // Data still in the write cache would take the time of its flush: the times are held and
    // set after it, in its entry (cp -a, rsync, tar set them after the data, before or after
    // the close), so that they are the ones that stay.
    utimens: (path, atime, mtime, cb) =>
      answer('utimens', cb, () =>
        setattr(path, {
          ...(atime !== null ? { atime: Number(atime / 1_000_000n) } : {}),
          ...(mtime !== null ? { mtime: Number(mtime / 1_000_000n) } : {}),
        }).then(() => after(path)),
      ),

    setxattr: (path, name, value, _position, flags, cb) => {
      if (POSIX_ACL.test(name)) return cb(Fuse.EOPNOTSUPP);
      const copy = Buffer.from(value);
      answer('setxattr', cb, async () => {
        if (name === PLACEMENT_XATTR) {
          writable();
          await markNode(engine, statPath(path).id, parsePlacement(copy.toString('utf8').replace(/\0+$/, '')));
          return;
        }
        if (isVirtual(name)) throw new EngineError('NOT_PERMITTED', `${name} is computed by Realize and cannot be set`);
        const flag = flags & XATTR_CREATE ? 'create' : flags & XATTR_REPLACE ? 'replace' : undefined;
        return submit({ type: 'setxattr', id: statPath(path).id, name, value: copy, ...(flag ? { flag } : {}) });
      });
    },

    getxattr: (path, name, _position, cb) => {
      if (!isVirtual(name)) {
        // The common case (the kernel asks for security.capability before every write):
        // answered from the id alone, without building the node's attributes or an Error.
        let id: string;
        try {
          id = idOf(path);
        } catch (err) {
          cb(fail('getxattr')(err));
          return;
        }
        const v = POSIX_ACL.test(name) ? undefined : reader.source.xattr(id, name);
        if (v === undefined) cb(Fuse.ENODATA);
        else cb(0, Buffer.from(v));
        return;
      }
      answer('getxattr', cb, () => {
        const { id } = statPath(path);
        if (POSIX_ACL.test(name)) throw new EngineError('NO_ATTRIBUTE', name);
        if (isVirtual(name)) {
          const v = virtualXattr(reader, id, name, placementLabel);
          if (v === undefined) throw new EngineError('NO_ATTRIBUTE', name);
          return v;
        }
        return Buffer.from(reader.getxattr(id, name));
      });
    },

    listxattr: (path, cb) =>
      answer('listxattr', cb, () => {
        const { id } = statPath(path);
        return [...reader.listxattr(id).filter((n) => !POSIX_ACL.test(n)), ...virtualNames(reader, id)];
      }),

    removexattr: (path, name, cb) =>
      answer('removexattr', cb, () => {
        if (POSIX_ACL.test(name)) throw new EngineError('NO_ATTRIBUTE', name);
        if (isVirtual(name)) throw new EngineError('NOT_PERMITTED', `${name} is computed by Realize`);
        return submit({ type: 'removexattr', id: statPath(path).id, name });
      }),
  };
  if (removals === undefined) return ops;
  // Every request but an unlink sees the unlinks answered before it applied first.
  const table = ops as Record<string, unknown>;
  for (const [name, handler] of Object.entries(table)) {
    if (name === 'unlink' || name === 'init' || typeof handler !== 'function') continue;
    const fn = handler as (...args: unknown[]) => unknown;
    table[name] = (...args: unknown[]): unknown => {
      removals.apply();
      return fn(...args);
    };
  }
  return ops;
}
