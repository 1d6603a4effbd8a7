/**
 * The operations a store's writer runs for other processes: the writing commands a user
 * gives while a mount or `realize serve` holds the store (mark, restore, areas, the
 * household). The CLI runs the very same functions itself when no writer holds the store, so
 * both ways behave alike. Arguments come from a socket: each operation checks them.
 */
import type { Engine } from '../engine.js';
import { EngineError } from '../engine-error.js';
import { collectGarbage, type GcResult } from '../gc.js';
import { formatBytes, markPath, parsePlacement, pathStatus, statusContext } from '../placement/index.js';
import { resolvePosition } from '../resolve-position.js';
import { restore } from '../restore.js';
import { addPeer, createArea, removePeer } from '../sync/index.js';

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
} as const;

export type ControlOps = typeof CONTROL_OPS;
export type ControlOp = keyof ControlOps;
export type ControlResult<K extends ControlOp> = Awaited<ReturnType<ControlOps[K]>>;

export function isControlOp(op: string): op is ControlOp {
  return Object.hasOwn(CONTROL_OPS, op);
}
