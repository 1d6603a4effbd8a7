// Types for fuse-native 2.2.6 as patched by mount/native/fuse-native.patch (applied and built by
// mount/native/build.mjs on postinstall). Only valid for the patched module: utimens times,
// Fuse.context(), opts.options/bigWrites and the Float64 stat layout do not exist upstream.
// An install with --ignore-scripts leaves the module unpatched: run `node mount/native/build.mjs`.
//
// Conventions
// - Every op receives a callback whose first argument is the result code: 0 (or null/undefined)
//   for success, a negative errno (Fuse.ENOENT, ...) for failure; an Error is mapped to -err.errno
//   (EIO if it has none). read/write instead pass the byte count (or a negative errno).
// - Handlers run on the JS thread while a FUSE thread blocks for the answer: never call a *Sync fs
//   function on the mounted path from this process (it deadlocks), and do not throw from a handler
//   (the exception is uncaught and the request never completes). A handler that does not answer
//   within opts.timeout (default 15 s) fails with ETIMEDOUT.
// - The Buffers given to read/write/setxattr/getxattr/listxattr wrap FUSE memory and are detached
//   once the callback is invoked: copy what you need first.
// - libfuse 2 limits (not fixable here): st_ino reaches the kernel only with the 'use_ino' option
//   (otherwise libfuse numbers inodes itself); rename(2) flags (RENAME_NOREPLACE/EXCHANGE) are not
//   supported by protocol 7.19, renameat2 with flags fails with EINVAL before reaching the handler;
//   supplementary groups of the caller are not exposed; with 'default_permissions' the kernel
//   checks permissions from the attributes getattr returns.
// - A file unlinked or replaced (rename over it) while open has no path any more: its read,
//   write, flush, fsync, release, fgetattr and ftruncate arrive with path '' (flag_nullpath_ok)
//   and must go by the fd. fstat of such a file arrives as fgetattr with the fd of one of its
//   open handles (the patch's channel adds it). Requests naming a node that libfuse no longer
//   has a path for fail with ESTALE rather than ENOENT, which Linux retries with a fresh lookup.
// - Each name of a hard-linked file is its own kernel inode (libfuse 2's path API): what one
//   name caches (attributes, pages) is refreshed for the others only after the timeouts.
declare module 'fuse-native' {
  namespace Fuse {
    /** 0 / null / undefined = success; negative errno = failure; Error -> -errno or EIO. */
    type Result = number | null | undefined | Error
    type Callback = (err: Result) => void
    type ValueCallback<T> = (err: Result, value?: T) => void
    /**
     * A change's answer; on success it may pass the node's attributes after it (for link and
     * symlink, the new name's), which answer the getattr libfuse 2 makes right after the change
     * in the same request, without asking getattr/fgetattr (the patch's "attributes handed ahead").
     */
    type ChangeCallback = (err: Result, stat?: Stat) => void
    /**
     * What an unlink or rmdir changed in the FUSE threads' attribute cache: `drop` (paths, each
     * followed by a NUL) leave it, `fill` (likewise) enter it with `stats` (16 doubles each, as
     * Fuse.attrFillPacked takes them), and every other cached path stays. Without it, the answer
     * forgets every cached attribute, as any change's does.
     */
    interface AttrChanges {
      readonly drop: string
      readonly fill: string
      readonly stats: Float64Array
    }
    type RemoveCallback = (err: Result, changed?: AttrChanges) => void
    /** read/write: bytes transferred (>= 0) or a negative errno. */
    type IOCallback = (bytesOrErrno: number) => void

    /** Milliseconds (Date or number, fractions kept to the ns) or BigInt nanoseconds since the epoch. */
    type Time = Date | number | bigint

    /**
     * Attributes returned by getattr/fgetattr/readdir. Numbers are sent as float64, exact up to
     * 2^53 (size, blocks, ino); bigint values are accepted (converted with Number()), so
     * fs.Stats from stat(p, { bigint: true }) can be returned as is (atimeNs/mtimeNs/ctimeNs are
     * preferred over atime/mtime/ctime when present). Missing times default to now, nlink to 1.
     */
    interface Stat {
      mode: number | bigint
      uid?: number | bigint
      gid?: number | bigint
      size?: number | bigint
      dev?: number | bigint
      nlink?: number | bigint
      /** Only used by the kernel with the 'use_ino' mount option. */
      ino?: number | bigint
      rdev?: number | bigint
      blksize?: number | bigint
      blocks?: number | bigint
      atime?: Time
      mtime?: Time
      ctime?: Time
      atimeNs?: bigint
      mtimeNs?: bigint
      ctimeNs?: bigint
    }

    interface Statfs {
      bsize?: number
      frsize?: number
      blocks?: number
      bfree?: number
      bavail?: number
      files?: number
      ffree?: number
      favail?: number
      fsid?: number
      flag?: number
      namemax?: number
    }

    /** The caller of the current request, from fuse_get_context(). */
    interface Context {
      uid: number
      gid: number
      /** Thread id of the calling process. */
      pid: number
      /**
       * umask of the caller (create/mkdir/mknod only; 0 elsewhere). The kernel has already applied
       * it to the mode those ops receive.
       */
      umask: number
      /**
       * The kernel's node id of the request: the inode the kernel names it with (not st_ino;
       * for create/lookup/mkdir, the parent directory's). 0 for requests without one.
       */
      nodeid: number
    }

    interface Operations {
      init?(cb: Callback): void
      error?(cb: Callback): void
      access?(path: string, mode: number, cb: Callback): void
      statfs?(path: string, cb: ValueCallback<Statfs>): void
      /** The attributes as a Stat, or already packed (16 doubles: mount/attr.ts packStat). */
      getattr?(path: string, cb: ValueCallback<Stat | Float64Array>): void
      fgetattr?(path: string, fd: number, cb: ValueCallback<Stat | Float64Array>): void
      flush?(path: string, fd: number, cb: Callback): void
      /** datasync is 0 or 1. */
      fsync?(path: string, datasync: number, fd: number, cb: Callback): void
      fsyncdir?(path: string, datasync: number, fd: number, cb: Callback): void
      /**
       * Names without '.'/'..' are fine; stats (same order) are optional. The listing form
       * (patch): names as one string, each ended by a NUL, and a Float64Array of (mode, ino)
       * per name, all libfuse 2 passes on (d_type, d_ino), without an object per entry.
       */
      readdir?(path: string, cb: ((err: Result, names?: string[], stats?: Stat[]) => void) & ((err: Result, names: string, kinds: Float64Array) => void)): void
      truncate?(path: string, size: number, cb: ChangeCallback): void
      ftruncate?(path: string, fd: number, size: number, cb: ChangeCallback): void
      /**
       * Times in nanoseconds since the epoch; null means "leave unchanged" (UTIME_OMIT, e.g.
       * touch -a / touch -m). UTIME_NOW arrives as the current time.
       */
      utimens?(path: string, atime: bigint | null, mtime: bigint | null, cb: ChangeCallback): void
      readlink?(path: string, cb: ValueCallback<string>): void
      /** uid/gid are 0xFFFFFFFF (-1 as uint32) when that id is not being changed. */
      chown?(path: string, uid: number, gid: number, cb: ChangeCallback): void
      chmod?(path: string, mode: number, cb: ChangeCallback): void
      mknod?(path: string, mode: number, dev: number, cb: Callback): void
      /** position is always 0 on Linux. */
      setxattr?(path: string, name: string, value: Buffer, position: number, flags: number, cb: Callback): void
      /** Answer with the value, or no value for ENODATA. */
      getxattr?(path: string, name: string, position: number, cb: (err: Result, value?: Buffer | null) => void): void
      listxattr?(path: string, cb: (err: Result, list?: string[]) => void): void
      removexattr?(path: string, name: string, cb: Callback): void
      /**
       * Answer with a file handle (non-zero to set it), passed back as fd to the other ops, and
       * keepCache true to keep the kernel's cached pages of the file (FOPEN_KEEP_CACHE); without
       * it they are dropped (unless the kernel_cache or auto_cache option keeps them).
       */
      open?(path: string, flags: number, cb: (err: Result, fd?: number, keepCache?: boolean) => void): void
      opendir?(path: string, flags: number, cb: ValueCallback<number>): void
      read?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: IOCallback): void
      write?(path: string, fd: number, buffer: Buffer, length: number, position: number, cb: IOCallback): void
      release?(path: string, fd: number, cb: Callback): void
      releasedir?(path: string, fd: number, cb: Callback): void
      /** New files should belong to Fuse.context().uid/gid. */
      create?(path: string, mode: number, cb: (err: Result, fd?: number, stat?: Stat) => void): void
      unlink?(path: string, cb: RemoveCallback): void
      rename?(src: string, dest: string, cb: Callback): void
      link?(src: string, dest: string, cb: ChangeCallback): void
      /** target: the link's contents; path: where the link is created. */
      symlink?(target: string, path: string, cb: ChangeCallback): void
      mkdir?(path: string, mode: number, cb: ChangeCallback): void
      rmdir?(path: string, cb: RemoveCallback): void
    }

    interface Options {
      /** Per-op handler timeout in ms (default 15000), false to disable, or per op name. */
      timeout?: number | false | ({ default?: number } & { [op: string]: number | false | undefined })
      /** Unmount a dead mount at the mountpoint first. */
      force?: boolean
      /** Create the mountpoint if missing. */
      mkdir?: boolean
      debug?: boolean
      /** 'big_writes' is passed unless this is false (Linux). */
      bigWrites?: boolean
      /** Extra -o options, verbatim: e.g. ['use_ino', 'attr_timeout=0', 'default_permissions']. */
      options?: string | string[]
      allowOther?: boolean
      allowRoot?: boolean
      autoUnmount?: boolean
      defaultPermissions?: boolean
      blkdev?: boolean
      blksize?: number
      maxRead?: number
      fd?: number
      userId?: number
      fsname?: string
      subtype?: string
      kernelCache?: boolean
      autoCache?: boolean
      umask?: number
      uid?: number
      gid?: number
      /** Seconds (0 allowed). */
      entryTimeout?: number
      attrTimeout?: number
      acAttrTimeout?: number
      noforget?: boolean
      remember?: number
      modules?: string
      displayFolder?: boolean
      name?: string
    }
  }

  class Fuse {
    constructor (mnt: string, ops: Fuse.Operations, opts?: Fuse.Options)
    readonly mnt: string
    readonly ops: Fuse.Operations
    readonly opts: Fuse.Options
    /** Calls back once the filesystem is mounted and init has run. */
    mount (cb: (err: Error | null) => void): void
    /** fusermount -uz, then detaches the native side. */
    unmount (cb: (err: (Error & { unmountFailure?: boolean }) | null) => void): void
    /** 'ENOENT' -> -2 (-1 if unknown). */
    errno (code: string): number

    /**
     * The caller of the request whose handler is running: read it synchronously at the start of
     * the handler. Returns null outside the synchronous dispatch of a handler (e.g. after an
     * await on real I/O), never another request's caller.
     */
    static context (): Fuse.Context | null
    /**
     * Staged writes: a write through a handle with a window, at or past its offset, is answered
     * on the FUSE thread and handed to drain(data, records) in order, before any later request
     * reaches a handler. records: (fh, offset, length, offset in data, kernel node id) as
     * doubles; both buffers are valid during the call only.
     */
    static stageSetup (drain: (data: Buffer, records: Buffer) => void): void
    /**
     * The FUSE threads' attribute cache (patch): inside a handler, keeps `paths`' attributes so
     * that getattrs of them are answered natively until any change (or 1 s). Returns how many
     * were kept: none outside a handler or once anything changed since the request arrived.
     */
    static attrFill (paths: readonly string[], stats: readonly Stat[]): number
    /**
     * attrFill already packed: `paths` each followed by a NUL, `stats` 16 doubles per path in
     * the layout getattr's arrays have (mount/attr.ts packStat); nothing made per entry.
     */
    static attrFillPacked (paths: string, stats: Float64Array): number
    /**
     * Inside a handler: listings of directories (`paths` each followed by a NUL; `names` every
     * listing's names, each followed by a NUL, one listing after another; `counts` names per
     * listing; `kinds` (mode, ino) per name), answered to readdirs of those paths on the FUSE
     * threads while nothing changes, for 1 s at most. Returns how many were kept.
     */
    static listingFill (paths: string, names: string, counts: Float64Array, kinds: Float64Array): number
    /** The attribute generation the running request was handed to JS at (it only grows); -1 outside a handler. */
    static attrGeneration (): number
    /** Something changed that no request made (sync, a timer's flush): nothing cached holds. */
    static attrInvalidate (): void
    /** Writes through fh at offset >= from may be staged from now on; from < 0 ends that. */
    static stageWindow (fh: number, from: number): void
    /** Staging on or off for every handle. */
    static stageEnabled (on: boolean): void
    /** Hands every staged write to drain, then runs fn while no write can be staged. */
    static stageExclusive<T> (fn: () => T): T
    /** Lazy unmount of any FUSE mount (fusermount -uz / diskutil unmount force). */
    static unmount (mnt: string, cb: (err: Error | null) => void): void
    static isConfigured (cb: (err: Error | null, configured?: boolean) => void): void
    static configure (cb: (err: Error | null) => void): void
    static unconfigure (cb: (err: Error | null) => void): void
    static beforeMount (cb?: (err: Error | null) => void): void
    static beforeUnmount (cb?: (err: Error | null) => void): void

    static readonly EPERM: number
    static readonly ENOENT: number
    static readonly ESRCH: number
    static readonly EINTR: number
    static readonly EIO: number
    static readonly ENXIO: number
    static readonly E2BIG: number
    static readonly ENOEXEC: number
    static readonly EBADF: number
    static readonly ECHILD: number
    static readonly EAGAIN: number
    static readonly ENOMEM: number
    static readonly EACCES: number
    static readonly EFAULT: number
    static readonly ENOTBLK: number
    static readonly EBUSY: number
    static readonly EEXIST: number
    static readonly EXDEV: number
    static readonly ENODEV: number
    static readonly ENOTDIR: number
    static readonly EISDIR: number
    static readonly EINVAL: number
    static readonly ENFILE: number
    static readonly EMFILE: number
    static readonly ENOTTY: number
    static readonly ETXTBSY: number
    static readonly EFBIG: number
    static readonly ENOSPC: number
    static readonly ESPIPE: number
    static readonly EROFS: number
    static readonly EMLINK: number
    static readonly EPIPE: number
    static readonly EDOM: number
    static readonly ERANGE: number
    static readonly EDEADLK: number
    static readonly ENAMETOOLONG: number
    static readonly ENOLCK: number
    static readonly ENOSYS: number
    static readonly ENOTEMPTY: number
    static readonly ELOOP: number
    static readonly EWOULDBLOCK: number
    static readonly ENOMSG: number
    static readonly EIDRM: number
    static readonly ENODATA: number
    static readonly ETIME: number
    static readonly EOVERFLOW: number
    static readonly EBADFD: number
    static readonly EILSEQ: number
    static readonly EUSERS: number
    static readonly ENOTSOCK: number
    static readonly EMSGSIZE: number
    static readonly ENOPROTOOPT: number
    static readonly EOPNOTSUPP: number
    static readonly ENOTCONN: number
    static readonly ETIMEDOUT: number
    static readonly ECONNREFUSED: number
    static readonly EALREADY: number
    static readonly EINPROGRESS: number
    static readonly ESTALE: number
    static readonly EREMOTEIO: number
    static readonly EDQUOT: number
    static readonly ENOMEDIUM: number
    static readonly EMEDIUMTYPE: number
    /** Any other Fuse.E* constant defined by the module. */
    static readonly [code: `E${string}`]: number
  }

  export = Fuse
}
