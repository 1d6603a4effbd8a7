/**
 * The engine as the mount sees it when famfs files must be served: the same engine, except
 * that the content of famfs files goes to and comes from their device (engine/famfs-io.ts).
 *
 * Why a view and not a change to Engine: the write path of the mount is the write cache,
 * which stores blocks (`engine.blocks.stageMany`) and then submits a write event. This view
 * defers the put: `blocks.putMany` and `stageMany` hash and hold the contents, and the `write` command
 * that follows either sends them to the famfs device (a famfs file) or puts them in the
 * block store as before. Only the mount (and famfs commands) use it; everything else keeps
 * the plain engine. The view also frees a famfs file's extents once its last link goes.
 *
 * Use it only with callers that pair every `blocks.putMany` or `stageMany` with the `write` that names its
 * hashes (the write cache does); a caller that puts blocks for any other use must take the
 * plain engine.
 */
import { createHash } from 'node:crypto';
import type { Command } from '../commands.js';
import type { Engine } from '../engine.js';
import type { FamfsIo } from './io.js';

function hex(h: Uint8Array): string {
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('hex');
}

function bind<T extends object>(target: T, prop: string | symbol): unknown {
  const v = Reflect.get(target, prop, target) as unknown;
  return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
}

export function famfsEngine(engine: Engine, io: FamfsIo): Engine {
  /** Contents put but not yet claimed by a write, by hash. */
  const held = new Map<string, { data: Uint8Array; refs: number }>();

  const take = (h: Uint8Array): Uint8Array | undefined => {
    const k = hex(h);
    const e = held.get(k);
    if (e === undefined) return undefined;
    if (--e.refs === 0) held.delete(k);
    return e.data;
  };

  /** Hashes and holds contents until the write naming them: putMany's and stageMany's deferral. */
  const hold = (contents: readonly Uint8Array[]): Uint8Array[] =>
    contents.map((data) => {
      const h = new Uint8Array(createHash('sha256').update(data).digest());
      const k = hex(h);
      const e = held.get(k);
      if (e) e.refs++;
      else held.set(k, { data: Uint8Array.from(data), refs: 1 });
      return h;
    });

  const blocks = new Proxy(engine.blocks, {
    get(target, prop) {
      if (prop === 'putMany') return async (contents: readonly Uint8Array[]): Promise<Uint8Array[]> => hold(contents);
      if (prop === 'stageMany') return async (contents: readonly Uint8Array[]): Promise<{ hashes: Uint8Array[]; written: Promise<void> | null }> => ({ hashes: hold(contents), written: null });
      return bind(target, prop);
    },
  });

  const submit = async (cmd: Command): ReturnType<Engine['submit']> => {
    if (cmd.type === 'write') {
      const contents = cmd.blocks.map(([, h]) => take(h));
      if (contents.every((c) => c !== undefined)) {
        const pairs = cmd.blocks.map(([i], k) => [i, contents[k]!] as const);
        if (io.isFamfs(cmd.id)) {
          const { durable } = await io.writeBlocks(cmd.id, cmd.size, pairs);
          return { decision: { area: engine.projections.tree.node(cmd.id)?.area ?? '', events: [] }, entry: null, durable };
        }
        await engine.blocks.putMany(contents as Uint8Array[]);
      } else {
        // Not ours to place: whatever was held goes to the block store so nothing is lost.
        const lost = contents.filter((c): c is Uint8Array => c !== undefined);
        if (lost.length > 0) await engine.blocks.putMany(lost);
      }
      return engine.submit(cmd);
    }
    // A name that goes may take a famfs file's last link with it: free its extents.
    let victim: string | undefined;
    if (cmd.type === 'unlink') victim = engine.lookup(cmd.path)?.id;
    else if (cmd.type === 'rename') victim = engine.lookup(cmd.to)?.id;
    const r = await engine.submit(cmd);
    if (victim !== undefined && engine.projections.famfs.extents(victim) !== undefined) await io.releaseIfGone(victim);
    return r;
  };

  return new Proxy(engine, {
    get(target, prop) {
      switch (prop) {
        case 'blocks':
          return blocks;
        case 'submit':
          return submit;
        case 'run':
          return async (cmd: Command) => {
            const { decision, durable } = await submit(cmd);
            await durable;
            return decision;
          };
        case 'read':
          return (id: string, offset: number, length: number) => (io.isFamfs(id) ? io.read(id, offset, length) : target.read(id, offset, length));
        case 'write':
          return (id: string, offset: number, data: Uint8Array) => (io.isFamfs(id) ? io.write(id, offset, data) : target.write(id, offset, data));
        case 'truncate':
          return (id: string, size: number) => (io.isFamfs(id) ? io.truncate(id, size) : target.truncate(id, size));
        default:
          return bind(target, prop);
      }
    },
  });
}
