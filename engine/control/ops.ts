/**
 * The operations a store's writer runs for other processes: the writing commands a user
 * gives while a mount or `realize serve` holds the store (mark, restore, import, gc, the
 * cache budget, areas, the household, sync, famfs). The CLI runs the very same functions
 * itself when no writer holds the store, so both ways behave alike. Arguments come from a
 * socket: each operation checks them.
 */
import { isAbsolute, relative, resolve } from 'node:path';
import type { Engine } from '../engine.js';
import { EngineError } from '../engine-error.js';
import { addFamfsDevice, type AddedDevice } from '../famfs/add-device.js';
import { copyIntoFamfs, type CopiedIn } from '../famfs/copy-in.js';
import { FamfsIo } from '../famfs/io.js';
import { collectGarbage, type GcResult } from '../gc.js';
import { importTree, type ImportResult } from '../import-tree.js';
import { formatBytes, markPath, parsePlacement, pathStatus, statusContext, writeSettings, type EnforceReport } from '../placement/index.js';
import { resolvePosition } from '../resolve-position.js';
import { restore } from '../restore.js';
import { addPeer, createArea, removePeer, syncOnce, syncTargets, type SyncNode, type SyncOutcome } from '../sync/index.js';

/**
 * What the process running an operation lends it: where progress goes (a line of the
 * protocol when the caller asked for it), and the holder's own resources, so an operation
 * run for another process shares them instead of opening a second of each.
 */
export interface OpContext {
  /** Progress of a long operation (import, famfs cp): a JSON value the caller formats. */
  readonly progress?: (p: unknown) => void;
  /** The holder's running sync node (a mount with peers, `realize serve`). */
  readonly syncNode?: SyncNode | null;
  /** The holder's famfs I/O (a famfs mount), or null when it serves none. */
  readonly famfs?: FamfsIo | null;
  /** Directories the holder serves (its mountpoint): importing from them would read back into this very process. */
  readonly serving?: readonly string[];
  /** Wall-clock time for events the operation makes. */
  readonly now?: () => number;
}

function bad(what: string): never {
  throw new EngineError('BAD_ARGUMENT', `control request: ${what}`);
}

function field(args: unknown, name: string): unknown {
  if (typeof args !== 'object' || args === null) bad('arguments must be an object');
  return (args as Record<string, unknown>)[name];
}

function str(args: unknown, name: string): string {
  const v = field(args, name);
  if (typeof v !== 'string') bad(`${name} must be a string`);
  return v;
}

function optStr(args: unknown, name: string): string | null {
  const v = field(args, name);
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') bad(`${name} must be a string`);
  return v;
}

function strs(args: unknown, name: string): string[] {
  const v = field(args, name);
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) bad(`${name} must be a list of strings`);
  return v as string[];
}

function optBool(args: unknown, name: string): boolean {
  const v = field(args, name);
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') bad(`${name} must be true or false`);
  return v;
}

function absolute(args: unknown, name: string): string {
  const v = str(args, name);
  if (!isAbsolute(v)) bad(`${name} must be an absolute path (the caller resolves it)`);
  return v;
}

function int(args: unknown, name: string): number {
  const v = field(args, name);
  if (!Number.isSafeInteger(v) || (v as number) < 0) bad(`${name} must be a non-negative integer`);
  return v as number;
}

function optInt(args: unknown, name: string): number | undefined {
  const v = field(args, name);
  if (v === undefined || v === null) return undefined;
  return int(args, name);
}

function writable(engine: Engine): NonNullable<Engine['placement']> {
  if (engine.placement === null) throw new EngineError('READ_ONLY', 'the store is open read-only');
  return engine.placement;
}

export interface MarkedPath {
  readonly path: string;
  readonly id: string;
  readonly placement: string;
  readonly changed: boolean;
}

export interface RealizeProgressReport {
  readonly bytes: number;
  readonly heldBytes: number;
  readonly queuedBlocks: number;
  /** Nothing is queued or being scanned. */
  readonly idle: boolean;
  readonly waiting: string | null;
  readonly line: string;
}

async function idleNow(engine: Engine): Promise<boolean> {
  const idle = writable(engine).realizer.idle().then(() => true);
  return Promise.race([idle, new Promise<boolean>((r) => setImmediate(() => r(false)))]);
}

export const CONTROL_OPS = {
  /** Sets this peer's placement of paths. */
  async mark(engine: Engine, args: unknown): Promise<MarkedPath[]> {
    const placement = parsePlacement(str(args, 'placement'));
    writable(engine);
    const out: MarkedPath[] = [];
    for (const path of strs(args, 'paths')) {
      const r = await markPath(engine, path, placement);
      out.push({ path, id: r.id, placement, changed: r.changed });
    }
    return out;
  },

  /** How much of the content under paths is here, and whether fetching goes on. */
  async progress(engine: Engine, args: unknown): Promise<RealizeProgressReport> {
    const paths = strs(args, 'paths');
    const service = writable(engine);
    const ctx = await statusContext(engine);
    let bytes = 0;
    let heldBytes = 0;
    for (const p of paths) {
      const presence = pathStatus(engine, p, ctx, { limit: 0 }).presence;
      bytes += presence.bytes;
      heldBytes += presence.heldBytes;
    }
    const { queuedBlocks, waiting } = service.realizer.progress;
    return { bytes, heldBytes, queuedBlocks, idle: await idleNow(engine), waiting, line: `${formatBytes(heldBytes)} of ${formatBytes(bytes)} here${waiting ? ` (${waiting})` : ''}` };
  },

  /** Brings a path back as it was at a position, as a new change. */
  async restore(engine: Engine, args: unknown): Promise<{ path: string; position: number; files: number; dirs: number; symlinks: number }> {
    const path = str(args, 'path');
    const pos = await resolvePosition(engine, str(args, 'at'));
    const r = await restore(engine, engine.at(pos.n), path);
    return { path, position: pos.n, ...r };
  },

  /** Frees the blocks no version inside the retention window needs (the writers' gate keeps it safe beside the mount). */
  async gc(engine: Engine, args: unknown): Promise<GcResult> {
    const keepDays = optInt(args, 'keepDays');
    const keepVersions = optInt(args, 'keepVersions');
    return collectGarbage(engine, { ...(keepDays !== undefined ? { keepDays } : {}), ...(keepVersions !== undefined ? { keepVersions } : {}) });
  },

  async 'area-create'(engine: Engine, args: unknown): Promise<{ area: string }> {
    const name = str(args, 'name');
    await createArea(engine, name, { uid: int(args, 'uid'), gid: int(args, 'gid') });
    return { area: name };
  },

  async 'peer-add'(engine: Engine, args: unknown): Promise<{ name: string; key: string; address: string | null }> {
    const m = await addPeer(engine, str(args, 'name'), str(args, 'key'), optStr(args, 'address'));
    return { name: m.name, key: m.key, address: m.address };
  },

  async 'peer-remove'(engine: Engine, args: unknown): Promise<{ name: string; key: string }> {
    const m = await removePeer(engine, str(args, 'name'));
    return { name: m.name, key: m.key };
  },

  /** A plain directory (or file) of the caller's into the store. */
  async import(engine: Engine, args: unknown, ctx: OpContext = {}): Promise<ImportResult> {
    const src = absolute(args, 'src');
    for (const dir of ctx.serving ?? []) {
      const rel = relative(resolve(dir), resolve(src));
      if (!rel.startsWith('..') && !isAbsolute(rel)) throw new EngineError('INVALID', `${src} is inside ${dir}, which this process serves: import from a plain directory`);
    }
    return importTree(engine, src, str(args, 'dest'), { compress: optBool(args, 'compress'), ...(ctx.progress ? { onProgress: ctx.progress } : {}) });
  },

  /** Sets the cache budget (when sizeBytes is given) and evicts down to it now. */
  async cache(engine: Engine, args: unknown): Promise<EnforceReport & { fetchTimeoutMs: number }> {
    const sizeBytes = optInt(args, 'sizeBytes');
    const service = writable(engine);
    if (sizeBytes !== undefined) await writeSettings(engine.store.layout.root, { sizeBytes });
    const r = await service.enforce();
    return { ...r, fetchTimeoutMs: service.settings.fetchTimeoutMs };
  },

  /** Syncs once with a member (or every member with an address), with the holder's node when it runs one. */
  async sync(engine: Engine, args: unknown, ctx: OpContext = {}): Promise<SyncOutcome[]> {
    const targets = await syncTargets(engine, optStr(args, 'peer'));
    return syncOnce(engine, targets, { node: ctx.syncNode ?? null });
  },

  /**
   * Writes the rows the holder keeps in memory (projections/held-writes.ts) to LMDB now. A
   * reader that opens the store beside the holder asks first (Engine.open), so it sees every
   * change the holder applied before, a file closed through the mount included.
   */
  async settle(engine: Engine): Promise<{ settled: true }> {
    engine.applyHeld();
    engine.projections.settle('control');
    return { settled: true };
  },

  async 'famfs-add'(engine: Engine, args: unknown, ctx: OpContext = {}): Promise<AddedDevice> {
    if (ctx.famfs === null) {
      throw new EngineError('STORE_LOCKED', 'the mount holding this store serves no famfs area (it started before the store had a famfs device): unmount, add the device, and mount again');
    }
    return addFamfsDevice(engine, str(args, 'area'), absolute(args, 'device'), (ctx.now ?? Date.now)());
  },

  async 'famfs-cp'(engine: Engine, args: unknown, ctx: OpContext = {}): Promise<CopiedIn> {
    const src = absolute(args, 'src');
    const dest = str(args, 'dest');
    if (ctx.famfs === null) throw new EngineError('STORE_LOCKED', 'the mount holding this store serves no famfs area: unmount it to copy into famfs');
    const own = ctx.famfs === undefined ? new FamfsIo(engine) : null;
    try {
      return await copyIntoFamfs(own ?? ctx.famfs!, src, dest, ctx.progress);
    } finally {
      await own?.close();
    }
  },
} as const;

export type ControlOps = typeof CONTROL_OPS;
export type ControlOp = keyof ControlOps;
export type ControlResult<K extends ControlOp> = Awaited<ReturnType<ControlOps[K]>>;

export function isControlOp(op: string): op is ControlOp {
  return Object.hasOwn(CONTROL_OPS, op);
}
