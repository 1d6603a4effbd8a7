/**
 * `realize export DEST`: the current tree (or a subtree) as plain files, with modes, owners
 * (when run as root), times, symlinks and hard links. DEST must be missing or empty.
 */
import { chmod, lchown, link, lutimes, mkdir, open, readdir, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE, type NodeId } from '../log/index.js';
import { EngineError } from './engine-error.js';
import type { Engine } from './engine.js';
import type { NodeInfo } from './node-info.js';

export interface ExportProgress {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
}

const CHUNK = 16 * BLOCK_SIZE;

/**
 * Seconds for utimes from whole milliseconds. ms / 1000 is rarely exact in binary and libuv
 * truncates to microseconds, so 1600000000123 ms would land as ...122.999 ms; half a
 * microsecond more lands on the millisecond exactly.
 */
function seconds(ms: number): number {
  return (ms + 0.0005) / 1000;
}

export async function exportTree(engine: Engine, from: string, dest: string, onProgress?: (p: ExportProgress) => void): Promise<ExportProgress & { symlinks: number }> {
  const top = engine.stat(from);
  if (top.kind !== 'dir') throw new EngineError('NOT_A_DIRECTORY', `${from} is not a directory`);
  const present = await readdir(dest).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new EngineError('IO', `cannot use ${dest}: ${err.code ?? err.message}`);
  });
  if (present.length > 0) throw new EngineError('EXISTS', `${dest} is not empty; export needs a missing or empty directory`);
  await mkdir(dest, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  const state = { files: 0, dirs: 0, bytes: 0, symlinks: 0 };
  const linked = new Map<NodeId, string>();

  const owner = async (path: string, info: NodeInfo): Promise<void> => {
    if (asRoot) await lchown(path, info.uid, info.gid);
  };

  const writeFile = async (path: string, info: NodeInfo): Promise<void> => {
    const fh = await open(path, 'wx', 0o600);
    try {
      for (let offset = 0; offset < info.size; offset += CHUNK) {
        const data = await engine.read(info.id, offset, CHUNK);
        await fh.write(data, 0, data.byteLength, offset);
      }
      if (info.size > 0) await fh.truncate(info.size);
    } finally {
      await fh.close();
    }
    state.bytes += info.size;
  };

  const walk = async (path: string, dir: string): Promise<void> => {
    for (const { name, info } of engine.readdir(path)) {
      const storePath = `${path === '/' ? '' : path}/${name}`;
      const out = join(dir, name);
      if (info.kind === 'dir') {
        await mkdir(out);
        await walk(storePath, out);
        await owner(out, info);
        await chmod(out, info.mode);
        await utimes(out, seconds(info.atime), seconds(info.mtime));
        state.dirs++;
      } else if (info.kind === 'symlink') {
        await symlink(info.target!, out);
        await owner(out, info);
        await lutimes(out, seconds(info.atime), seconds(info.mtime));
        state.symlinks++;
      } else {
        const first = linked.get(info.id);
        if (first !== undefined) {
          await link(first, out);
          continue;
        }
        if (info.nlink > 1) linked.set(info.id, out);
        await writeFile(out, info);
        await owner(out, info);
        await chmod(out, info.mode);
        await utimes(out, seconds(info.atime), seconds(info.mtime));
        state.files++;
      }
      onProgress?.(state);
    }
  };
  await walk(from, dest);
  return state;
}
