// The attributes the FUSE threads answer from (mount/attr-fill.ts, the patch's attribute
// cache) are never stale: with the kernel's own caches off (attr/entry timeouts 0, so every
// stat reaches the server), after the stats that hand a directory's entries to the addon, a
// change made by the serving process itself (a restore over the control socket), a rename or
// removal of the directory, and writes still in progress all show at the very next stat.
import t from 'tap';
import { existsSync } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rm, rmdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountForTest } from './helpers/server.js';
import { realize } from '../helpers/run-cli.js';
import { sleep } from './helpers/proc.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const { area, scratch } = await mountForTest(t, 'attr-cache', { attrTimeout: 0 });
const A = (...p: string[]): string => join(area, ...p);
const NAMES = ['a', 'b', 'c', 'd'];

/** Stats of every file of `dir`, twice over: the second getattr in a row in it hands the directory to the addon. */
async function statAll(dir: string): Promise<void> {
  for (let round = 0; round < 2; round++) for (const n of NAMES) await lstat(A(dir, n));
}

async function makeDir(dir: string, content: string): Promise<void> {
  await mkdir(A(dir));
  for (const n of NAMES) await writeFile(A(dir, n), content);
}

t.test('a restore by the serving process shows at the next stat', { timeout: 90_000 }, async (t) => {
  await makeDir('restored', 'one');
  const history = await realize('--store', scratch.store, '--json', 'history', '/home/restored/b');
  t.equal(history.code, 0, history.stderr);
  const first = JSON.parse(history.stdout.trim().split('\n')[0]!) as { position: number };
  await writeFile(A('restored', 'b'), 'the second version');
  await statAll('restored');
  t.equal((await lstat(A('restored', 'b'))).size, 18, 'the second version');
  const restore = await realize('--store', scratch.store, 'restore', '/home/restored/b', '--at', `@${first.position}`);
  t.equal(restore.code, 0, restore.stderr);
  t.equal((await lstat(A('restored', 'b'))).size, 3, 'the restored size, at once');
  t.equal((await lstat(A('restored', 'c'))).size, 3, 'the others are as they were');
});

t.test('a directory renamed or removed, and one made in its place', { timeout: 60_000 }, async (t) => {
  await makeDir('moved', 'abc');
  await statAll('moved');
  await rename(A('moved'), A('moved2'));
  await t.rejects(lstat(A('moved', 'a')), { code: 'ENOENT' }, 'the old path is gone');
  t.equal((await lstat(A('moved2', 'a'))).size, 3, 'the new one is there');
  await makeDir('moved', 'abcdefg');
  t.equal((await lstat(A('moved', 'a'))).size, 7, 'a new directory in the old place shows its own files');
  await statAll('moved');
  await rm(A('moved'), { recursive: true });
  await t.rejects(lstat(A('moved', 'b')), { code: 'ENOENT' }, 'removed: gone');
  await t.rejects(lstat(A('moved')), { code: 'ENOENT' }, 'and the directory too');
});

t.test('writes and attribute changes through the mount show at the next stat', { timeout: 60_000 }, async (t) => {
  await makeDir('written', 'abc');
  await statAll('written');
  const fh = await open(A('written', 'a'), 'r+');
  try {
    await fh.write(Buffer.alloc(4096, 1), 0, 4096, 3);
    t.equal((await lstat(A('written', 'a'))).size, 4099, 'a write still in the write cache');
    await statAll('written');
    await fh.write(Buffer.alloc(10, 2), 0, 10, 4099);
    t.equal((await lstat(A('written', 'a'))).size, 4109, 'and the next one');
  } finally {
    await fh.close();
  }
  t.equal((await lstat(A('written', 'a'))).size, 4109, 'after the close');
  await statAll('written');
  const f = await open(A('written', 'b'), 'a');
  await f.chmod(0o600);
  await f.close();
  t.equal((await lstat(A('written', 'b'))).mode & 0o777, 0o600, 'a chmod through a handle');
  await statAll('written');
  await writeFile(A('written', 'c'), 'replaced content');
  t.equal((await lstat(A('written', 'c'))).size, 16, 'a file rewritten');
});

t.test('an unlink or rmdir shows at once, and keeps the rest of the cache right', { timeout: 60_000 }, async (t) => {
  await makeDir('removed', 'abc');
  await mkdir(A('removed', 'sub'));
  await link(A('removed', 'c'), A('removed', 'c2'));
  await statAll('removed');
  const dirBefore = await lstat(A('removed'));
  t.equal((await lstat(A('removed', 'c'))).nlink, 2, 'a file with two names');
  await unlink(A('removed', 'b'));
  await t.rejects(lstat(A('removed', 'b')), { code: 'ENOENT' }, 'the removed name is gone at once');
  // The parent's attributes are told to the addon with the unlink's answer, ahead of its apply
  // (mount/removal-queue.ts); past the addon's 1 s rule the next stat reads them from the engine.
  const told = await lstat(A('removed'));
  await sleep(1100);
  const read = await lstat(A('removed'));
  t.same([read.nlink, read.mode, read.mtimeMs, read.ctimeMs], [told.nlink, told.mode, told.mtimeMs, told.ctimeMs], "the parent's attributes told ahead are the ones applied");
  t.ok(read.mtimeMs >= dirBefore.mtimeMs, 'its times moved on');
  t.equal((await lstat(A('removed', 'a'))).size, 3, 'a sibling is as it was');
  await rmdir(A('removed', 'sub'));
  await t.rejects(lstat(A('removed', 'sub')), { code: 'ENOENT' }, 'the removed directory is gone at once');
  t.equal((await lstat(A('removed'))).nlink, dirBefore.nlink - 1, "the parent's attributes after the rmdir");
  await statAll('removed').catch(() => undefined);
  await unlink(A('removed', 'c2'));
  t.equal((await lstat(A('removed', 'c'))).nlink, 1, "the other name of a file unlinked shows the file's new link count");
  await writeFile(A('removed', 'b'), 'a new file');
  t.equal((await lstat(A('removed', 'b'))).size, 10, 'a file made again at a removed name shows its own attributes');
});

t.test('listings handed ahead to a traversal show every change at the next readdir', { timeout: 60_000 }, async (t) => {
  await mkdir(A('walk'));
  for (const d of ['d0', 'd1', 'd2', 'd3']) await makeDir(`walk/${d}`, 'xyz');
  const listing = async (dir: string): Promise<string[]> => (await readdir(A(dir))).sort();
  // A readdir of a directory, then of its first child: the listings of d1..d3 are handed ahead.
  const walk = async (): Promise<void> => {
    await listing('walk');
    await listing('walk/d0');
  };
  await walk();
  t.same(await listing('walk/d1'), NAMES, 'a listing handed ahead');
  await walk();
  await writeFile(A('walk', 'd2', 'new'), 'n');
  t.same(await listing('walk/d2'), [...NAMES, 'new'].sort(), 'a file made after the traversal read its directory');
  await walk();
  await unlink(A('walk', 'd3', 'b'));
  t.same(await listing('walk/d3'), NAMES.filter((n) => n !== 'b'), 'a file removed after it');
  await walk();
  for (const n of NAMES) await unlink(A('walk', 'd1', n));
  await rmdir(A('walk', 'd1'));
  t.same(await listing('walk'), ['d0', 'd2', 'd3'], 'a directory removed after it');
  await t.rejects(readdir(A('walk', 'd1')), { code: 'ENOENT' }, 'and its own listing is gone');
});
