/**
 * `realize restore PATH --at POSITION`: brings a past version back as a new change. Nothing
 * in the log is rewritten: the restored state is new events (content by block reference, so
 * nothing is copied). Directories are restored with everything they held.
 */
import { ZERO_BLOCK, type FsEvent, type NodeId } from '../log/index.js';
import { splitBlocks } from '../projections/index.js';
import { EngineError } from './engine-error.js';
import type { Engine } from './engine.js';
import type { NodeInfo } from './node-info.js';
import type { Snapshot } from './snapshot.js';

export interface RestoreResult {
  readonly files: number;
  readonly dirs: number;
  readonly symlinks: number;
}

export async function restore(engine: Engine, past: Snapshot, path: string): Promise<RestoreResult> {
  const then = past.stat(path);
  const result = { files: 0, dirs: 0, symlinks: 0 };
  const blocksOf = (id: NodeId): { size: number; blocks: Array<readonly [number, Uint8Array]> } => {
    const row = past.fileRow(id);
    const blocks: Array<readonly [number, Uint8Array]> = [];
    let i = 0;
    for (const b of splitBlocks(row.blocks)) {
      if (Buffer.compare(b, ZERO_BLOCK) !== 0) {
        if (!engine.blocks.has(b)) throw new EngineError('BLOCK_MISSING', `the content of ${path} at that position was freed by gc; it cannot be restored`);
        blocks.push([i, new Uint8Array(b)] as const);
      }
      i++;
    }
    return { size: row.size, blocks };
  };

  const restoreNode = async (p: string, info: NodeInfo): Promise<void> => {
    const now = engine.lookup(p);
    const owner = { uid: info.uid, gid: info.gid };
    if (info.kind === 'dir') {
      if (now === undefined) await engine.run({ type: 'mkdir', path: p, mode: info.mode, owner });
      else if (now.kind !== 'dir') throw new EngineError('EXISTS', `${p} is now a ${now.kind}; move it away to restore the directory`);
      for (const child of past.readdir(p)) await restoreNode(`${p}/${child.name}`, child.info);
      const id = engine.stat(p).id;
      await engine.run({ type: 'setattr', id, mode: info.mode, uid: info.uid, gid: info.gid, mtime: info.mtime });
      result.dirs++;
      return;
    }
    if (now !== undefined && now.kind !== info.kind) throw new EngineError('EXISTS', `${p} is now a ${now.kind}; move it away to restore the ${info.kind}`);
    if (info.kind === 'symlink') {
      if (now !== undefined && now.target !== info.target) await engine.run({ type: 'unlink', path: p });
      if (now === undefined || now.target !== info.target) await engine.run({ type: 'symlink', path: p, target: info.target!, owner });
      result.symlinks++;
      return;
    }
    const { size, blocks } = blocksOf(info.id);
    if (now === undefined) await engine.run({ type: 'create', path: p, mode: info.mode, owner });
    const id = engine.stat(p).id;
    const time = engine.env.now();
    const events: FsEvent[] = [{ type: 'truncate', id, size: 0, tail: null, time }];
    for (let k = 0; k < blocks.length; k += 1024) events.push({ type: 'write', id, size, blocks: blocks.slice(k, k + 1024), time });
    if (blocks.length === 0 && size > 0) events.push({ type: 'truncate', id, size, tail: null, time });
    events.push({ type: 'commit', id, time }, { type: 'setattr', id, mode: info.mode, uid: info.uid, gid: info.gid, mtime: info.mtime, time });
    await engine.appendEvents(engine.stat(p).area, events);
    result.files++;
  };

  await restoreNode(path, then);
  return result;
}
