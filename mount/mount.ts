/**
 * Serving the engine's tree at a mountpoint. Starting clears a stale mount left by a
 * crashed server; stopping flushes every branch durably, then unmounts. An unmount from
 * outside (`realize umount`, `fusermount -u`) is noticed and ends the mount the same way.
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import Fuse from 'fuse-native';
import { WriteCache, type Engine, type Snapshot } from '../engine/index.js';
import { FdTable } from './fd-table.js';
import { KernelPages } from './kernel-pages.js';
import { StagedWrites } from './staged-writes.js';
import { isFuseMounted, probeMount, unmountPath } from './mount-table.js';
import { makeOps } from './ops.js';
import { AttrChanges } from './attr-changes.js';
import { RemovalQueue } from './removal-queue.js';
import { MountError } from './mount-error.js';

export interface MountOptions {
  readonly readOnly?: boolean;
  /** Serve this past snapshot instead of the head (always read-only). */
  readonly at?: Snapshot;
  readonly allowOther?: boolean;
  /** Kernel attribute and entry cache, seconds. */
  readonly attrTimeout?: number;
  readonly entryTimeout?: number;
  readonly debug?: boolean;
  readonly log?: (line: string) => void;
  /** How often to look for an unmount from outside (ms). */
  readonly pollMs?: number;
}

export class Mount {
  readonly mountpoint: string;
  readonly cache: WriteCache;
  readonly #fuse: Fuse;
  readonly #staged: StagedWrites | undefined;
  readonly #log: (line: string) => void;
  readonly #pollMs: number;
  #stopping: Promise<void> | null = null;
  #poll: NodeJS.Timeout | null = null;
  readonly #ended: Promise<void>;
  #end!: () => void;
  /** Changes the engine applies on its own (sync, restore, a flush on a timer) empty the FUSE threads' attribute cache. */
  readonly #engine: Engine;
  readonly #headChanged = (): void => {
    if (!this.#attrChanges.quiet) Fuse.attrInvalidate();
  };
  /** An unlink's or rmdir's own entry: its answer names what it changed in the attribute cache. */
  readonly #attrChanges = new AttrChanges();
  /** Unlinks answered and not yet applied (writable mounts). */
  readonly #removals: RemovalQueue | undefined;

  private constructor(engine: Engine, mountpoint: string, opts: MountOptions) {
    this.mountpoint = mountpoint;
    this.#engine = engine;
    this.#log = opts.log ?? (() => undefined);
    this.#pollMs = opts.pollMs ?? 1000;
    const pages = new KernelPages();
    const readOnly = opts.readOnly === true || engine.readOnly || opts.at !== undefined;
    const staged = readOnly ? undefined : new StagedWrites();
    this.#staged = staged;
    this.cache = new WriteCache(engine, {
      onStored: (id, r) => pages.stored(id, r.sources, r.before, r.after),
      ...(staged ? { exclusive: staged.exclusive, onShrink: staged.shrunk } : {}),
    });
    // Not with famfs areas: their unlinks free extents after the apply (engine/famfs/engine.ts).
    const famfs = engine.projections.famfs.devices().next().done !== true;
    this.#removals = readOnly || famfs
      ? undefined
      : new RemovalQueue(engine, {
          quietly: (fn) => this.#attrChanges.run(fn),
          forgetCache: () => Fuse.attrInvalidate(),
          onInternalError: (op, err) => this.#log(`realize mount: ${op} failed: ${(err as Error)?.stack ?? String(err)}`),
        });
    const ops = makeOps(engine, this.cache, new FdTable(), {
      readOnly,
      ...(this.#removals ? { removals: this.#removals } : {}),
      pages,
      attrChanges: this.#attrChanges,
      ...(staged ? { staged } : {}),
      ...(opts.at ? { reader: opts.at } : {}),
      onInternalError: (op, err) => this.#log(`realize mount: ${op} failed: ${(err as Error)?.stack ?? String(err)}`),
    });
    const attr = opts.attrTimeout ?? 1;
    const entry = opts.entryTimeout ?? 1;
    this.#fuse = new Fuse(mountpoint, ops, {
      force: true,
      debug: opts.debug === true,
      allowOther: opts.allowOther === true,
      defaultPermissions: true,
      fsname: 'realize',
      subtype: 'realize',
      timeout: false,
      // No auto_cache: open decides whether the kernel keeps a file's pages (kernel-pages.ts).
      options: ['use_ino', 'hard_remove', `attr_timeout=${attr}`, `entry_timeout=${entry}`, ...(readOnly ? ['ro'] : [])],
    });
    this.#ended = new Promise((r) => (this.#end = r));
  }

  static async start(engine: Engine, mountpoint: string, opts: MountOptions = {}): Promise<Mount> {
    const mp = resolve(mountpoint);
    const log = opts.log ?? (() => undefined);
    const state = await probeMount(mp);
    if (state === 'alive') throw new MountError('BUSY', `${mp} is already mounted and served by another process`);
    if (state === 'stale') {
      log(`realize mount: ${mp} held a stale mount (its server is gone); clearing it`);
      await unmountPath(mp, true);
    }
    await mkdir(mp, { recursive: true });
    const m = new Mount(engine, mp, opts);
    await new Promise<void>((res, rej) => m.#fuse.mount((err) => (err ? rej(new MountError('MOUNT_FAILED', `cannot mount at ${mp}: ${err.message}`)) : res())));
    engine.headChanged.add(m.#headChanged);
    m.#watch();
    return m;
  }

  /** Resolves when the mount has ended (stopped here or unmounted from outside). */
  get ended(): Promise<void> {
    return this.#ended;
  }

  #watch(): void {
    this.#poll = setInterval(() => {
      isFuseMounted(this.mountpoint).then(
        (mounted) => {
          if (!mounted && this.#stopping === null) {
            this.#log(`realize mount: ${this.mountpoint} was unmounted`);
            void this.stop();
          }
        },
        () => undefined,
      );
    }, this.#pollMs);
    this.#poll.unref();
  }

  /** Flushes everything pending durably, then unmounts. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#poll) clearInterval(this.#poll);
      let failure: unknown = null;
      try {
        this.#removals?.apply(); // acknowledged unlinks still waiting
        this.#staged?.settle(); // acknowledged writes still waiting on the FUSE side
        await this.cache.flushAll();
      } catch (err) {
        failure = err;
      }
      await new Promise<void>((res) => this.#fuse.unmount(() => res()));
      if (await isFuseMounted(this.mountpoint).catch(() => false)) await unmountPath(this.mountpoint, true).catch(() => undefined);
      this.#staged?.stop();
      await this.cache.flushAll().catch((err: unknown) => (failure ??= err));
      this.#removals?.close();
      this.#engine.headChanged.delete(this.#headChanged);
      this.#end();
      if (failure) throw failure;
    })();
    return this.#stopping;
  }
}
