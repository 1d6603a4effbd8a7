/** Small JSON files written atomically: a temporary file, fsync, rename, fsync of the directory. */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncDir } from '../../log/index.js';
import { SyncError } from './sync-error.js';

export async function readJson<T>(path: string, fallback: T): Promise<T> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw new SyncError('IO', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new SyncError('IO', `${path} is damaged (not JSON); remove it to start over`);
  }
}

export async function writeJson(path: string, value: unknown, durable = true): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify(value, null, 1)}\n`);
    if (durable) await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  if (durable) await syncDir(dirname(path));
}
