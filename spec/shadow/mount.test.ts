/**
 * `realize mount --shadow`: the shadow view served read-only through FUSE equals what
 * `realize log replay --shadow` writes. The server runs in a child process; this process
 * reaches the mount only through child processes, with timeouts, and always unmounts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { replayShadow } from '../../engine/index.js';
import { run, sleep } from '../mount/helpers/proc.js';
import { buildGolden, openStore, tempDir } from './helpers.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const BIN = fileURLToPath(new URL('../../tools/bin/realize.js', import.meta.url));

t.test('mount --shadow serves the replayed shadow, read-only', async (t) => {
  const { engine, root } = await openStore(t);
  await buildGolden(engine);
  const base = await tempDir(t);
  const shadow = join(base, 'shadow');
  await replayShadow(engine, shadow, { mode: 'shadow' });
  await engine.close();
  const mp = join(base, 'mnt');
  const child = spawn(process.execPath, [BIN, '--store', root, 'mount', '--shadow', mp], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  t.teardown(async () => {
    await run('fusermount', ['-u', mp], { timeoutMs: 10_000 });
    await run('umount', ['-l', mp], { timeoutMs: 10_000 });
    child.kill('SIGKILL');
  });
  // Up to 60 s (a loaded CI machine starts the server slowly), or until the child ends.
  let exited = false;
  child.on('exit', () => (exited = true));
  for (let i = 0; i < 600 && !exited && !out.includes('serving'); i++) await sleep(100);
  t.match(out, /serving/, 'mounted');
  const diff = await run('diff', ['-r', '-x', '.realize-shadow.json', shadow, mp], { timeoutMs: 20_000 });
  t.equal(diff.code, 0, `the mount equals the replay\n${diff.stdout}${diff.stderr}`);
  const write = await run('sh', ['-c', `echo x > '${mp}/home/new'`], { timeoutMs: 10_000 });
  t.not(write.code, 0, 'read-only');
  t.match(write.stderr, /Read-only/);
});
