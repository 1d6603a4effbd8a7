/**
 * `realize import` and `realize export` (engine/import-tree.ts, engine/export-tree.ts): a
 * generated directory goes in and comes back out byte for byte, with modes, owners (as
 * root), mtimes to the millisecond, symlink targets and hard links sharing one inode.
 * Import lands like cp -a; its errors are clear; names that cannot be names are skipped
 * with a message; --compress stores less than the logical size.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, lchown, link, lstat, lutimes, mkdir, readdir, readFile, readlink, symlink, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import t from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { EngineError, exportTree, importTree, replayCheck } from '../../engine/index.js';
import { makeCli } from '../../tools/cli-context.js';
import { main } from '../../tools/main.js';
import { content, openStore, tempDir, testEnv } from './helpers/env.js';
import { capture } from './helpers/capture.js';

const AS_ROOT = process.getuid?.() === 0;
const T = 1_600_000_000_123; // ms: not exact in binary seconds

/** Sets times so that the file system holds exactly `ms` milliseconds. */
function seconds(ms: number): number {
  return (ms + 0.0005) / 1000;
}

/** The tree every round trip starts from. Directory times are set last (children move them). */
async function generate(root: string): Promise<void> {
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  await mkdir(join(root, 'empty-dir'));
  await writeFile(join(root, 'a', 'b', 'deep.txt'), 'deep down\n', { mode: 0o600 });
  await writeFile(join(root, 'a', 'empty'), '');
  await writeFile(join(root, 'big.bin'), content('big', 3 * BLOCK_SIZE + 12_345), { mode: 0o640 });
  await writeFile(join(root, 'exactly-one-block'), content('one', BLOCK_SIZE));
  await writeFile(join(root, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  await writeFile(join(root, 'z-hard'), 'shared by three names\n', { mode: 0o604 });
  // Hard links met before their first name: "a" is walked before "z-hard" is emitted.
  await link(join(root, 'z-hard'), join(root, 'a', 'hard-2'));
  await link(join(root, 'z-hard'), join(root, 'a', 'b', 'hard-3'));
  await symlink('a/b/deep.txt', join(root, 'link'));
  await symlink('../nowhere', join(root, 'a', 'dangling'));
  const files = ['a/b/deep.txt', 'a/empty', 'big.bin', 'exactly-one-block', 'run.sh', 'z-hard'];
  for (const [k, f] of files.entries()) await utimes(join(root, f), seconds(T + k * 1001), seconds(T + k * 1001 + 7));
  if (AS_ROOT) {
    await chown(join(root, 'run.sh'), 1234, 5678);
    await lchown(join(root, 'link'), 4321, 8765);
  }
  await lutimes(join(root, 'link'), seconds(T - 5), seconds(T - 3));
  await lutimes(join(root, 'a', 'dangling'), seconds(T - 9), seconds(T - 11));
  await chmod(join(root, 'a', 'b'), 0o700);
  await chmod(join(root, 'empty-dir'), 0o750);
  for (const [k, d] of ['a/b', 'a', 'empty-dir', '.'].entries()) await utimes(join(root, d), seconds(T + 50_000 + k), seconds(T + 60_000 + k * 13));
}

interface Seen {
  kind: string;
  mode: number;
  mtime: number;
  size: number;
  uid: number;
  gid: number;
  target?: string;
  sha?: string;
  /** The other names of this inode, relative. */
  group?: string;
}

/** Everything a round trip must keep, by relative path. */
async function describeTree(root: string): Promise<Map<string, Seen>> {
  const out = new Map<string, Seen>();
  const inodes = new Map<number, string[]>();
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const p = join(dir, name);
      const st = await lstat(p);
      const rel = relative(root, p);
      const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'file';
      const seen: Seen = { kind, mode: st.isSymbolicLink() ? 0 : st.mode & 0o7777, mtime: Math.floor(st.mtimeMs), size: st.isDirectory() ? 0 : st.size, uid: st.uid, gid: st.gid };
      if (kind === 'symlink') seen.target = await readlink(p);
      if (kind === 'file') {
        seen.sha = createHash('sha256').update(await readFile(p)).digest('hex');
        if (st.nlink > 1) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), rel]);
      }
      out.set(rel, seen);
      if (kind === 'dir') await walk(p);
    }
  };
  await walk(root);
  for (const names of inodes.values()) for (const n of names) out.get(n)!.group = names.join(' ');
  return out;
}

t.test('import then export: the same tree, byte for byte, with its metadata', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await mkdir(src);
  await generate(src);
  const { engine } = await openStore(t);
  const r = await importTree(engine, src, '/home');
  t.equal(r.dest, '/home/src', 'into a new area, under its own name (cp -a)');
  t.equal(r.files, 6, 'six regular files (hard links are names, not files)');
  t.equal(r.dirs, 4, 'src, a, a/b, empty-dir');
  t.equal(r.symlinks, 2);
  t.equal(r.bytes, 3 * BLOCK_SIZE + 12_345 + BLOCK_SIZE + 10 + 18 + 22);
  t.same(r.skipped, []);

  const hard = engine.stat('/home/src/z-hard');
  t.equal(hard.nlink, 3, 'the store holds one node with three names');
  t.equal(engine.stat('/home/src/a/hard-2').id, hard.id);
  t.equal(engine.stat('/home/src/a/b/hard-3').id, hard.id);
  t.equal(engine.stat('/home/src/big.bin').size, 3 * BLOCK_SIZE + 12_345);
  t.equal(engine.readlink('/home/src/link'), 'a/b/deep.txt');
  t.equal(engine.stat('/home/src').mtime, T + 60_000 + 3 * 13, 'directory times survive the creation of their children');
  t.ok((await replayCheck(engine)).ok, 'the import rebuilds from the log');

  const out = join(dir, 'out');
  const e = await exportTree(engine, '/home/src', out);
  t.equal(e.files, 6);
  t.equal(e.symlinks, 2);
  const want = await describeTree(src);
  const got = await describeTree(out);
  t.same([...got.keys()], [...want.keys()], 'the same names');
  for (const [rel, w] of want) {
    const g = got.get(rel);
    if (!g) continue;
    const { uid, gid, ...rest } = w;
    const { uid: guid, gid: ggid, ...grest } = g;
    t.same(grest, rest, `${rel}: kind, mode, mtime (ms), size, bytes, target, hard links`);
    if (AS_ROOT) t.same([guid, ggid], [uid, gid], `${rel}: owner`);
  }
  t.equal(got.get('z-hard')?.group, 'a/b/hard-3 a/hard-2 z-hard', 'the exported hard links share one inode');
  t.equal(got.get('link')?.mtime, T - 3, 'a symlink keeps its own mtime');
});

t.test('import lands like cp -a', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'photos');
  await mkdir(join(src, 'x'), { recursive: true });
  await writeFile(join(src, 'x', 'p.jpg'), 'jpeg');
  const { engine } = await openStore(t);

  const r1 = await importTree(engine, src, '/home/pics');
  t.equal(r1.dest, '/home/pics', 'DEST missing: the copy is DEST');
  t.equal((await engine.read(engine.stat('/home/pics/x/p.jpg').id, 0, 10)).toString(), 'jpeg');

  const r2 = await importTree(engine, src, '/home/pics');
  t.equal(r2.dest, '/home/pics/photos', 'DEST a directory: the copy goes inside, under its own name');
  t.ok(engine.stat('/home/pics/photos/x/p.jpg'));

  await t.rejects(importTree(engine, src, '/home/pics'), { code: 'EXISTS', message: /photos exists/ }, 'DEST/NAME exists: refused, nothing merged');
  t.same(engine.readdir('/home/pics/photos').map((e) => e.name), ['x'], 'the earlier copy is untouched');

  const single = join(dir, 'one.txt');
  await writeFile(single, 'a single file');
  const r3 = await importTree(engine, single, '/home/pics/x');
  t.equal(r3.dest, '/home/pics/x/one.txt', 'a file into a directory');
  t.equal(r3.files, 1);
  const r4 = await importTree(engine, single, '/work/renamed.txt');
  t.equal(r4.dest, '/work/renamed.txt', 'a file to a new name, in an area created on the way');
});

t.test('import errors: DEST a file, SRC missing, DEST parent missing, a bad DEST', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'f'), 'x');
  const { engine } = await openStore(t);
  await importTree(engine, src, '/home');
  await t.rejects(importTree(engine, src, '/home/src/f'), { code: 'EXISTS', message: /not a directory/ }, 'DEST exists as a file');
  await t.rejects(importTree(engine, join(dir, 'missing'), '/home'), { code: 'NOT_FOUND', message: /missing/ }, 'SRC missing');
  await t.rejects(importTree(engine, src, '/home/no/such/dest'), { code: 'NOT_FOUND' }, "DEST's parent missing");
  await t.rejects(importTree(engine, src, '/home/../etc'), { code: 'INVALID' }, '".." in DEST');
  await t.rejects(importTree(engine, src, '/'), { code: 'INVALID', message: /area/ }, 'the root is not a place for files');
  await t.rejects(importTree(engine, src, '/home/src/f/x'), EngineError, 'DEST under a file');
  t.same(engine.readdir('/home').map((e) => e.name), ['src'], 'nothing half-imported');
});

t.test('names that are not UTF-8 are skipped with a message; the rest is imported', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'good.txt'), 'ok');
  const bad = Buffer.concat([Buffer.from(`${src}/`), Buffer.from([0x63, 0x61, 0x66, 0xe9])]); // "caf\xe9" (latin-1)
  await writeFile(bad, 'latin-1 name');
  await mkdir(Buffer.concat([Buffer.from(`${src}/`), Buffer.from([0xff, 0xfe])]));
  const { engine } = await openStore(t);
  const r = await importTree(engine, src, '/home');
  t.equal(r.skipped.length, 2, 'two entries skipped');
  t.ok(r.skipped.some((s) => s.includes('636166e9') && s.includes('not valid UTF-8')), `the message names the bytes: ${r.skipped.join(' | ')}`);
  t.same(engine.readdir('/home/src').map((e) => e.name), ['good.txt'], 'the good name is there');
  t.equal(r.files, 1);

  const stderr = capture();
  const stdout = capture();
  const store = join(dir, 'store');
  const cli = makeCli({ env: testEnv(3), stdout, stderr });
  t.equal(await main(['--store', store, 'init'], cli), 0);
  t.equal(await main(['--store', store, 'import', src, '/home'], cli), 0, 'the CLI import succeeds');
  t.match(stderr.text(), /realize: skipped .*not valid UTF-8/, 'and says what it skipped, on stderr');
});

t.test('--compress: stat shows stored < logical for compressible data', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'docs');
  await mkdir(src);
  const text = Buffer.from('all work and no play makes a dull block store\n'.repeat(40_000));
  await writeFile(join(src, 'text.txt'), text);
  await writeFile(join(src, 'random.bin'), content('rnd', BLOCK_SIZE * 2));
  const stat = async (store: string, path: string): Promise<{ size: number; stored: number; blocks: number }> => {
    const out = capture();
    t.equal(await main(['--store', store, '--json', 'stat', path], makeCli({ env: testEnv(4), stdout: out, stderr: capture() })), 0);
    return JSON.parse(out.text()) as { size: number; stored: number; blocks: number };
  };
  const run = async (name: string, extra: string[]): Promise<string> => {
    const store = join(dir, name);
    const cli = makeCli({ env: testEnv(5), stdout: capture(), stderr: capture() });
    t.equal(await main(['--store', store, 'init'], cli), 0);
    t.equal(await main(['--store', store, 'import', ...extra, src, '/home'], cli), 0);
    return store;
  };
  const packed = await run('packed', ['--compress']);
  const plain = await run('plain', []);
  const p = await stat(packed, '/home/docs/text.txt');
  t.equal(p.size, text.length, 'the logical size');
  t.ok(p.stored < p.size / 10, `compressed: ${p.stored} bytes stored for ${p.size}`);
  const q = await stat(plain, '/home/docs/text.txt');
  t.equal(q.stored, q.size, 'without --compress: stored as is');
  const r = await stat(packed, '/home/docs/random.bin');
  t.equal(r.stored, r.size, 'incompressible data is stored as is even with --compress');
  const outDir = join(dir, 'out');
  t.equal(await main(['--store', packed, 'export', outDir], makeCli({ env: testEnv(6), stdout: capture(), stderr: capture() })), 0);
  t.ok((await readFile(join(outDir, 'home', 'docs', 'text.txt'))).equals(text), 'and it exports back to the same bytes');
});

t.test('export errors: DEST not empty, PATH not a directory', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await mkdir(src);
  await writeFile(join(src, 'f'), 'x');
  const { engine } = await openStore(t);
  await importTree(engine, src, '/home');
  const busy = join(dir, 'busy');
  await mkdir(busy);
  await writeFile(join(busy, 'there'), '');
  await t.rejects(exportTree(engine, '/home', busy), { code: 'EXISTS', message: /not empty/ });
  await t.rejects(exportTree(engine, '/home/src/f', join(dir, 'x')), { code: 'NOT_A_DIRECTORY' });
  const empty = join(dir, 'empty');
  await mkdir(empty);
  const r = await exportTree(engine, '/', empty);
  t.equal(r.files, 1, 'an existing empty directory is fine; "/" exports every area');
  t.equal((await readFile(join(empty, 'home', 'src', 'f'))).toString(), 'x');
});

t.test('a file of many read chunks (read ahead into pool buffers) comes in byte for byte', async (t) => {
  const dir = await tempDir(t);
  const src = join(dir, 'src');
  await mkdir(src);
  // 2.5 MiB + a tail: three read chunks of 8 blocks, the last one short, and a block of zeros.
  const data = Buffer.concat([content('chunked', 20 * BLOCK_SIZE + 777)]);
  data.fill(0, 9 * BLOCK_SIZE, 10 * BLOCK_SIZE);
  await writeFile(join(src, 'big.bin'), data);
  await writeFile(join(src, 'one-more-byte'), content('obb', BLOCK_SIZE + 1));
  const { engine } = await openStore(t);
  const r = await importTree(engine, src, '/home');
  t.equal(r.files, 2);
  t.equal(r.bytes, data.length + BLOCK_SIZE + 1);
  const id = engine.stat('/home/src/big.bin').id;
  t.ok((await engine.read(id, 0, data.length + 10)).equals(data), 'every byte as it was');
  const one = engine.stat('/home/src/one-more-byte').id;
  t.ok((await engine.read(one, 0, BLOCK_SIZE + 10)).equals(content('obb', BLOCK_SIZE + 1)));
  t.equal(engine.contentState(id)!.pending, 0, 'committed');
});

/** A source of `n` empty files in one directory: about 3 events each, so n / 650 entries of ~2,000 events. */
async function manyEmptyFiles(dir: string, n: number): Promise<string> {
  const src = join(dir, 'many');
  await mkdir(src);
  for (let i = 0; i < n; i += 200) await Promise.all(Array.from({ length: Math.min(200, n - i) }, (_, k) => writeFile(join(src, `f${i + k}`), '')));
  return src;
}

t.test('import runs ahead of a slow group commit by at most 4 entries, and holds none once durable', async (t) => {
  const dir = await tempDir(t);
  // 10,000 names of one file: their link events are emitted after the walk, back to back
  // (no file read between the entries), 5 entries of 2,000 events at once.
  const src = join(dir, 'links');
  await mkdir(src);
  await writeFile(join(src, 'f'), 'one file, many names\n');
  for (let i = 0; i < 10_000; i += 500) await Promise.all(Array.from({ length: 500 }, (_, k) => link(join(src, 'f'), join(src, `n${i + k}`))));
  const { engine } = await openStore(t);
  const append = engine.appendEvents.bind(engine);
  let inFlight = 0;
  let most = 0;
  let entries = 0;
  engine.appendEvents = async (area, events) => {
    entries++;
    inFlight++;
    most = Math.max(most, inFlight);
    try {
      const entry = await append(area, events);
      await new Promise((r) => setTimeout(r, 30)); // a disk slower than the walk
      return entry;
    } finally {
      inFlight--;
    }
  };
  const r = await importTree(engine, src, '/home');
  t.equal(r.files, 1);
  t.ok(entries > 5, `the import spans more entries (${entries}) than it keeps in flight`);
  t.equal(most, 4, 'at most 4 entries not yet durable at once');
  t.equal(inFlight, 0, 'every entry durable when the import returns');
  t.equal(engine.readdir('/home/links').length, 10_001);
});

t.test('an entry that fails to become durable fails the import with its error', async (t) => {
  const dir = await tempDir(t);
  const src = await manyEmptyFiles(dir, 2000);
  const { engine } = await openStore(t);
  const append = engine.appendEvents.bind(engine);
  let entries = 0;
  engine.appendEvents = async (area, events) => {
    if (++entries === 2) throw new EngineError('INVALID', 'the disk said no');
    return append(area, events);
  };
  await t.rejects(importTree(engine, src, '/home'), { message: 'the disk said no' });
});
