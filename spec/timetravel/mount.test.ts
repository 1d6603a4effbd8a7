/**
 * `realize mount MP --at POSITION`: a read-only mount of the past, served by a child process.
 * Everything the model says of the tree at that position reads back through the kernel
 * (names, kinds, modes, owners, link counts, sizes, bytes, symlink targets); later changes
 * are not there; every write fails with EROFS. The mount is always cleared on teardown.
 */
import { existsSync } from 'node:fs';
import { appendFile, chmod, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, symlink, truncate, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { MountServer, mountLine } from '../mount/helpers/server.js';
import { within } from '../mount/helpers/proc.js';
import { writeStory, type Step } from './helpers/story.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing: no FUSE on this machine');
  process.exit(0);
}

const story = await writeStory(t);
await story.close();
const dir = await mkdtemp(join(tmpdir(), 'realize-spec-tt-mnt-'));
t.teardown(() => rm(dir, { recursive: true, force: true }));

const io = <T>(what: string, p: Promise<T>): Promise<T> => within(10_000, what, p);

/** Mounts the store at `at` for the length of `fn`, and always unmounts. */
async function withMount(at: string, fn: (mnt: string, m: MountServer) => Promise<void>): Promise<void> {
  const mnt = join(dir, `mnt-${at.replace(/[^a-z0-9]/gi, '_')}`);
  await mkdir(mnt);
  const m = await MountServer.start(story.root, mnt, { extraArgs: ['--at', at] });
  try {
    await fn(mnt, m);
  } finally {
    await m.stop();
  }
  if (await mountLine(mnt)) throw new Error(`${mnt} is still mounted after stop()`);
}

/** Every path of the model at `step`, read back through the mount. */
async function checkTree(t: Test, mnt: string, step: Step): Promise<void> {
  t.same((await io('readdir /', readdir(mnt))).sort(), ['home', 'work'], 'the areas');
  for (const [path, want] of step.model) {
    const p = join(mnt, path);
    const st = await io(`lstat ${path}`, lstat(p));
    const kind = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
    t.equal(kind, want.kind, `${path}: a ${want.kind}`);
    if (want.kind !== 'symlink') t.equal(st.mode & 0o7777, want.mode, `${path}: mode 0${want.mode.toString(8)}`);
    t.same([st.uid, st.gid], [want.uid, want.gid], `${path}: owner`);
    t.equal(st.nlink, want.nlink, `${path}: ${want.nlink} links`);
    if (want.kind !== 'dir') t.equal(st.size, want.size, `${path}: ${want.size} bytes`);
    if (want.kind === 'file') t.ok((await io(`read ${path}`, readFile(p))).equals(want.data!), `${path}: the bytes of @${step.n}`);
    if (want.kind === 'symlink') t.equal(await io(`readlink ${path}`, readlink(p)), want.target, `${path}: -> ${want.target}`);
    if (want.kind === 'dir') {
      const names = [...step.model.keys()].filter((q) => q.startsWith(`${path}/`) && !q.slice(path.length + 1).includes('/')).map((q) => q.slice(path.length + 1));
      t.same((await io(`readdir ${path}`, readdir(p))).sort(), names.sort(), `${path}: its entries`);
    }
  }
}

async function erofs(t: Test, what: string, p: Promise<unknown>): Promise<void> {
  await t.rejects(within(10_000, what, p), { code: 'EROFS' }, `${what}: EROFS`);
}

t.test('mount --at @25: the tree after the directory rename, read-only', { timeout: 90_000 }, async (t) => {
  const step = story.steps[25]!;
  await withMount('@25', async (mnt, m) => {
    t.match(m.events[0], { event: 'mounted', mountpoint: mnt }, 'reported {"event":"mounted"}');
    await checkTree(t, mnt, step);
    // Facts of @25, spelled out.
    t.equal(await io('read a.txt', readFile(join(mnt, 'home/papers/a.txt'), 'utf8')), 'hello\nworld\n');
    t.equal(await io('read c.txt', readFile(join(mnt, 'home/papers/c.txt'), 'utf8')), 'bravo\n', 'c.txt is still the renamed b.txt');
    t.equal((await io('lstat c.txt', lstat(join(mnt, 'home/papers/c.txt')))).mode & 0o777, 0o600);
    t.equal(await io('read deep.txt', readFile(join(mnt, 'home/papers/sub/deep.txt'), 'utf8')), 'deep\n');
    await t.rejects(io('lstat docs', lstat(join(mnt, 'home/docs'))), { code: 'ENOENT' }, 'docs was renamed by then');
    await t.rejects(io('lstat notes', lstat(join(mnt, 'home/notes.txt'))), { code: 'ENOENT' }, 'notes.txt came later');
    const big = await io('read big.bin', readFile(join(mnt, 'work/big.bin')));
    t.equal(big.length, 300 * 1024, 'big.bin: 300 KiB');
    t.equal(big.subarray(150_000, 150_007).toString() === 'PATCHED', false, 'before its patch (@26)');

    const f = join(mnt, 'home/papers/a.txt');
    await erofs(t, 'create a file', writeFile(join(mnt, 'home/new.txt'), 'x'));
    await erofs(t, 'overwrite a file', writeFile(f, 'x'));
    await erofs(t, 'append to a file', appendFile(f, 'x'));
    await erofs(t, 'truncate a file', truncate(f, 1));
    await erofs(t, 'mkdir', mkdir(join(mnt, 'home/newdir')));
    await erofs(t, 'rename', rename(f, join(mnt, 'home/papers/z.txt')));
    await erofs(t, 'unlink', unlink(f));
    await erofs(t, 'symlink', symlink('a.txt', join(mnt, 'home/papers/s')));
    await erofs(t, 'link', link(f, join(mnt, 'home/papers/l')));
    await erofs(t, 'chmod', chmod(f, 0o777));
    await erofs(t, 'utimes', utimes(f, 1, 1));
    t.equal(await io('read a.txt again', readFile(f, 'utf8')), 'hello\nworld\n', 'nothing changed');
  });
});

t.test('mount --at TIME: the tree at @45, after the rename over a.txt', { timeout: 90_000 }, async (t) => {
  const step = story.steps[45]!;
  await withMount(new Date(step.time + 30_000).toISOString(), async (mnt) => {
    await checkTree(t, mnt, step);
    t.equal(await io('read a.txt', readFile(join(mnt, 'home/papers/a.txt'), 'utf8')), 'charlie v2\n');
    t.equal(await io('read hard2.txt', readFile(join(mnt, 'home/papers/hard2.txt'), 'utf8')), 'hel');
    t.equal(await io('readlink', readlink(join(mnt, 'home/link'))), 'papers/c.txt');
    await erofs(t, 'write', writeFile(join(mnt, 'home/papers/a.txt'), 'x'));
  });
});

t.test('mount --at a position that does not exist: exit 2, nothing mounted', { timeout: 60_000 }, async (t) => {
  const mnt = join(dir, 'mnt-bad');
  await mkdir(mnt);
  await t.rejects(MountServer.start(story.root, mnt, { extraArgs: ['--at', '@999'] }), /exited \(\{"code":2,"signal":null\}\) before mounting:\nrealize: no position @999: the log holds @0 to @52/);
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  t.notOk(info.split('\n').some((l) => l.split(' ')[4] === mnt), 'not mounted');
});
