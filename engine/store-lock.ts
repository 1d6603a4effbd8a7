/**
 * One writer per store: a lock file holding the writer's pid, created exclusively. A lock
 * whose process is gone (a crash) is taken over.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { EngineError } from './engine-error.js';

/** Whether process `pid` runs (one of another user counts: signalling it is only refused). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLock(path: string, storeRoot: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
        throw new EngineError('READ_ONLY', `the store ${storeRoot} is read-only (${code}); open it read-only or fix its permissions`, { cause: err });
      }
      if (code !== 'EEXIST') throw new EngineError('IO', `cannot lock ${storeRoot}: ${(err as Error).message}`, { cause: err });
      const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new EngineError('STORE_LOCKED', `the store ${storeRoot} is in use by process ${pid} (a mount or another realize command)`);
      }
      await unlink(path).catch(() => undefined);
    }
  }
  throw new EngineError('STORE_LOCKED', `cannot lock the store ${storeRoot}`);
}
