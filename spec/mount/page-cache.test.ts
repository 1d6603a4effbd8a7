// The kernel's page cache over the mount (mount/kernel-pages.ts): a file written through the
// mount keeps its cached pages for the next open (its read does not go back to the server),
// and pages are dropped whenever the content changed in a way they do not show: a change made
// by the serving process itself (a restore sent over the control socket), a write through
// another name of the file (a hard link is another kernel inode).
//
// `fincore` (util-linux) counts a file's pages in the page cache without reading it; it runs
// in a child, as every access to the mount does here.
import t from 'tap';
import { existsSync } from 'node:fs';
import { link, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountForTest } from './helpers/server.js';
import { run } from './helpers/proc.js';
import { realize } from '../helpers/run-cli.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const MiB = 1024 * 1024;
const { area, scratch } = await mountForTest(t, 'page-cache');
const A = (...p: string[]): string => join(area, ...p);

/** Bytes of `path` in the page cache (fincore opens it: an open that may keep or drop them). */
async function cachedBytes(path: string): Promise<number> {
  const r = await run('fincore', ['--bytes', '--noheadings', '--output', 'RES', path]);
  if (r.code !== 0) throw new Error(`fincore ${path}: ${r.stderr}`);
  return Number(r.stdout.trim());
}

const filled = (byte: string, size: number): Buffer => Buffer.alloc(size, byte);

t.test('pages written through the mount stay cached for the next open', { timeout: 60_000 }, async (t) => {
  await writeFile(A('written'), filled('w', MiB));
  t.equal(await cachedBytes(A('written')), MiB, 'every page written is still cached after close and reopen');
  t.same(await readFile(A('written')), filled('w', MiB), 'and reads back right');
  t.equal(await cachedBytes(A('written')), MiB, 'still cached after the read');
});

t.test('a change made by the serving process drops the cached pages', { timeout: 90_000 }, async (t) => {
  const path = A('restored');
  await writeFile(path, filled('1', MiB));
  const history = await realize('--store', scratch.store, '--json', 'history', '/home/restored');
  t.equal(history.code, 0, history.stderr);
  const first = JSON.parse(history.stdout.trim().split('\n')[0]!) as { position: number };
  // The second version has the same size: the kernel cannot tell it from the attributes.
  await writeFile(path, filled('2', MiB));
  t.same(await readFile(path), filled('2', MiB), 'the second version reads back');
  t.equal(await cachedBytes(path), MiB, 'and is in the page cache');

  const restore = await realize('--store', scratch.store, 'restore', '/home/restored', '--at', `@${first.position}`);
  t.equal(restore.code, 0, restore.stderr);
  t.equal(await cachedBytes(path), 0, 'the next open drops the pages of the replaced content');
  t.same(await readFile(path), filled('1', MiB), 'the restored content is read, not the cached pages');
  t.equal(await cachedBytes(path), MiB, 'which the kernel then caches and keeps');
});

t.test('a write through a hard link drops the other name\'s pages', { timeout: 60_000 }, async (t) => {
  const size = 256 * 1024;
  await writeFile(A('name1'), filled('a', size));
  await link(A('name1'), A('name2'));
  t.same(await readFile(A('name2')), filled('a', size), 'the second name reads the content (its pages are cached)');
  const fh = await open(A('name1'), 'r+'); // no O_TRUNC: only the write changes the content
  await fh.write(filled('b', size), 0, size, 0);
  await fh.close();
  t.same(await readFile(A('name2')), filled('b', size), 'the second name reads what was written through the first');
  t.same(await readFile(A('name1')), filled('b', size), 'and so does the first');
});

t.test('a read while another name holds unstored writes sees them', { timeout: 60_000 }, async (t) => {
  const size = 128 * 1024;
  await writeFile(A('open1'), filled('c', size));
  await link(A('open1'), A('open2'));
  t.same(await readFile(A('open2')), filled('c', size), 'cached through the second name');
  const fh = await open(A('open1'), 'r+');
  try {
    await fh.write(filled('d', 4096), 0, 4096, 0); // in the write cache, not stored yet
    const seen = await readFile(A('open2'));
    t.same(seen.subarray(0, 4096), filled('d', 4096), 'the write is seen through the other name at once');
    t.same(seen.subarray(4096), filled('c', size - 4096), 'with the rest unchanged');
  } finally {
    await fh.close();
  }
});
