/**
 * Writing commands while the store is mounted: `realize mark`, `restore` and `area create`
 * given in another process run in the mount's process (engine/control/), and what they
 * change shows through the mount.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MountServer, scratch } from '../mount/helpers/server.js';
import { realize } from '../helpers/run-cli.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

t.test('mark, restore and area create while mounted', { timeout: 90_000 }, async (t) => {
  const s = await scratch('control-mount');
  let server: MountServer | null = null;
  t.teardown(async () => {
    await server?.stop();
    await s.remove();
  });
  server = await MountServer.start(s.store, s.mnt);
  await mkdir(join(s.mnt, 'home'));
  await writeFile(join(s.mnt, 'home', 'notes.txt'), 'first version\n');
  const log1 = await realize('--store', s.store, '--json', 'history', '/home/notes.txt');
  t.equal(log1.code, 0, log1.stderr);
  const first = JSON.parse(log1.stdout.trim().split('\n')[0]!) as { position: number };
  await writeFile(join(s.mnt, 'home', 'notes.txt'), 'second version, longer\n');
  t.equal(await readFile(join(s.mnt, 'home', 'notes.txt'), 'utf8'), 'second version, longer\n');

  const mark = await realize('--store', s.store, 'mark', 'unreal', '/home');
  t.equal(mark.code, 0, mark.stderr);
  t.match(mark.stdout, /\/home: unreal/);

  const restore = await realize('--store', s.store, 'restore', '/home/notes.txt', '--at', `@${first.position}`);
  t.equal(restore.code, 0, restore.stderr);
  t.equal(await readFile(join(s.mnt, 'home', 'notes.txt'), 'utf8'), 'first version\n', 'the mount shows the restored content at once');

  const area = await realize('--store', s.store, 'area', 'create', 'photos');
  t.equal(area.code, 0, area.stderr);
  t.ok((await readdir(s.mnt)).includes('photos'), 'the new area shows in the mount');

  const exit = await server.stop();
  server = null;
  t.same(exit, { code: 0, signal: null }, 'the mount stops cleanly');
  const ls = await realize('--store', s.store, '--json', 'stat', '/home/notes.txt');
  t.match(JSON.parse(ls.stdout), { size: 'first version\n'.length }, 'the restore is in the log');
});
