/**
 * Where the process that holds a store's lock (a mount, `realize serve`) takes commands: a
 * Unix socket in the store directory, or, when that path is longer than a socket address
 * holds, one in the temporary directory named by a hash of the store's path.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** sockaddr_un.sun_path is 108 bytes with its NUL. */
const SUN_PATH_MAX = 107;

export function controlSocketPath(storeRoot: string): string {
  const inStore = join(resolve(storeRoot), 'control.sock');
  if (Buffer.byteLength(inStore) <= SUN_PATH_MAX) return inStore;
  const id = createHash('sha256').update(resolve(storeRoot)).digest('hex').slice(0, 24);
  return join(tmpdir(), `realize-control-${id}.sock`);
}
