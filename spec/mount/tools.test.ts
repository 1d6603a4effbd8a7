// Real tools on a real mount: git (init, add, commit, gc, fsck), tar (x of a generated tree,
// c back, compared), cp -a, rsync -a (then a --checksum dry run finds nothing to do), and
// sqlite3 (rollback journal and WAL). Every tool runs in a child process.
import t from 'tap';
import { existsSync } from 'node:fs';
import { chmod, link, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountForTest } from './helpers/server.js';
import { ensurePackages } from './helpers/packages.js';
import { prng } from './helpers/fsx.js';
import { run, sh } from './helpers/proc.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

await ensurePackages(['git', 'rsync', 'sqlite3', 'tar']);
const { area } = await mountForTest(t, 'tools');
const A = (...p: string[]): string => join(area, ...p);

// A generated tree, off the mount: nested directories, empty and 200 KiB files (across the
// 128 KiB block size), odd modes, a symlink, a hard link, an empty directory, old mtimes.
const src = await mkdtemp(join(tmpdir(), 'realize-tools-src-'));
t.teardown(() => rm(src, { recursive: true, force: true }));
{
  const rnd = prng(4242);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  let k = 0;
  for (const d of ['a', 'a/b', 'a/b/c', 'd', 'd/e', 'space dir']) {
    await mkdir(join(src, d), { recursive: true });
    for (let i = 0; i < 25; i++) {
      const size = [0, 1, 100, 4096, 5000, 131072, 131073, 200_000][k++ % 8]!;
      const f = join(src, d, `file-${i}.bin`);
      await writeFile(f, bytes(size));
      if (i % 5 === 0) await chmod(f, 0o755);
      if (i % 7 === 0) await chmod(f, 0o600);
      await utimes(f, 1_400_000_000 + k * 1000, 1_500_000_000 + k * 1000);
    }
  }
  await writeFile(join(src, 'README'), 'a generated tree\n');
  await symlink('a/b/file-1.bin', join(src, 'link-to-file'));
  await symlink('a/b', join(src, 'link-to-dir'));
  await link(join(src, 'README'), join(src, 'README.hardlink'));
  await mkdir(join(src, 'empty'));
  await utimes(join(src, 'a', 'b'), 1_300_000_000, 1_300_000_000);
}

/** Type, mode, size, mtime (s), link target of every entry, sorted: what must survive a copy. */
const listing = (dir: string): Promise<string> =>
  sh(`cd '${dir}' && find . -mindepth 1 ! -path './.git*' -printf '%p %y %m %s %TY-%Tm-%Td_%TH:%TM:%.2TS %l\\n' | sed 's/ [0-9]* \\([0-9-]*_[0-9:]*\\) / \\1 /;' | sort`);
const listingWithSizes = (dir: string): Promise<string> =>
  sh(`cd '${dir}' && find . -mindepth 1 -type f -printf '%p %s\\n' | sort`);

t.test('tar x of a generated tree, tar c back, compare', { timeout: 90_000 }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'realize-tools-tar-'));
  try {
    await sh(`tar cf '${work}/src.tar' -C '${src}' .`);
    await mkdir(A('tarx'));
    await sh(`tar xf '${work}/src.tar' -C '${A('tarx')}'`);
    t.equal(await listing(A('tarx')), await listing(src), 'types, modes, mtimes and link targets match after tar x');
    t.equal(await listingWithSizes(A('tarx')), await listingWithSizes(src), 'sizes match');
    const diff = await run('diff', ['-r', '--no-dereference', src, A('tarx')]);
    t.equal(diff.code, 0, `contents match (diff -r): ${diff.stdout}${diff.stderr}`);
    await sh(`tar cf '${work}/back.tar' -C '${A('tarx')}' .`);
    // Which of two hard links tar stores as the file and which as the link follows readdir
    // order: name both alike.
    const list = async (f: string): Promise<string> =>
      (await sh(`tar tvf '${f}' --numeric-owner`))
        .split('\n')
        .map((l) => l.replace(/\s+/g, ' ').replaceAll('README.hardlink', 'README'))
        .sort()
        .join('\n');
    t.equal(await list(`${work}/back.tar`), await list(`${work}/src.tar`), 'tar c of the mounted tree lists the same entries (modes, owners, sizes, mtimes)');
    await mkdir(join(work, 'back'));
    await sh(`tar xf '${work}/back.tar' -C '${work}/back'`);
    const d2 = await run('diff', ['-r', '--no-dereference', src, join(work, 'back')]);
    t.equal(d2.code, 0, `the archive made from the mount extracts to the same tree: ${d2.stdout}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

t.test('cp -a', { timeout: 60_000 }, async (t) => {
  await sh(`cp -a '${src}' '${A('cpa')}'`);
  t.equal(await listing(A('cpa')), await listing(src), 'types, modes, mtimes and link targets are preserved');
  const diff = await run('diff', ['-r', '--no-dereference', src, A('cpa')]);
  t.equal(diff.code, 0, `contents match: ${diff.stdout}${diff.stderr}`);
  const ls = await sh(`ls -l '${A('cpa')}'`);
  t.notMatch(ls, /^[-dl][rwxsStT-]{9}\+/m, 'no ACL marks (+) on copied entries');
  const ino = await sh(`stat -c %i '${A('cpa', 'README')}' '${A('cpa', 'README.hardlink')}'`);
  const [i1, i2] = ino.trim().split('\n');
  t.equal(i1, i2, 'the hard link stays a hard link');
  await sh(`cp -a '${A('cpa')}' '${A('cpa2')}'`);
  t.equal(await listing(A('cpa2')), await listing(src), 'cp -a from the mount to the mount too');
});

t.test('rsync -a, then a checksum dry run has nothing to do', { timeout: 60_000 }, async (t) => {
  await sh(`rsync -a '${src}/' '${A('rs')}/'`);
  const dry = await sh(`rsync -a --checksum -n -i '${src}/' '${A('rs')}/'`);
  t.equal(dry.trim(), '', 'rsync -a --checksum -n -i lists nothing');
  t.equal(await listing(A('rs')), await listing(src), 'types, modes, mtimes and link targets match');
  // An edit in the middle of a big file, and rsync finds exactly that file.
  await sh(`printf X | dd of='${src}/a/file-5.bin' bs=1 seek=70000 conv=notrunc status=none`);
  await utimes(join(src, 'a', 'file-5.bin'), 1_234_567_890, 1_234_567_890);
  const changed = await sh(`rsync -a --checksum -n -i '${src}/' '${A('rs')}/'`);
  t.match(changed, /a\/file-5\.bin/, 'a changed file is found');
  await sh(`rsync -a --inplace '${src}/' '${A('rs')}/'`);
  t.equal((await sh(`rsync -a --checksum -n -i '${src}/' '${A('rs')}/'`)).trim(), '', 'in sync again after an --inplace update');
});

t.test('git init, add, commit, gc, fsck', { timeout: 90_000 }, async (t) => {
  const repo = A('repo');
  await mkdir(repo);
  const env = { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: repo, GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z' };
  const git = async (...args: string[]): Promise<string> => {
    const r = await run('git', ['-C', repo, ...args], { env, timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await git('init', '-q', '-b', 'main');
  await git('config', 'user.name', 'Realize Test');
  await git('config', 'user.email', 'test@realize.invalid');
  await sh(`cp -r '${src}/a' '${src}/README' '${repo}/'`);
  await git('add', '-A');
  await git('commit', '-q', '-m', 'first');
  t.equal((await git('status', '--porcelain')).trim(), '', 'clean after the first commit');
  await writeFile(join(repo, 'README'), 'changed\n');
  await git('mv', 'a/b', 'a/moved');
  await git('commit', '-q', '-a', '-m', 'second');
  t.equal((await git('log', '--oneline')).trim().split('\n').length, 2, 'two commits');
  t.equal((await git('status', '--porcelain')).trim(), '', 'clean after the second commit');
  await git('gc', '-q');
  await git('fsck', '--full', '--strict');
  t.pass('git gc and git fsck --full succeed');
  t.equal(await git('show', 'HEAD~1:README'), 'a generated tree\n', 'history reads back');
  const clone = A('clone');
  const r = await run('git', ['clone', '-q', repo, clone], { env, timeoutMs: 60_000 });
  t.equal(r.code, 0, `git clone on the mount: ${r.stderr}`);
  t.equal((await sh(`cat '${clone}/README'`)), 'changed\n', 'the clone has the work tree');
});

t.test('sqlite3 creates a database and queries it', { timeout: 90_000 }, async (t) => {
  for (const mode of ['delete', 'wal']) {
    const db = A(`test-${mode}.db`);
    const script = [
      `PRAGMA journal_mode=${mode};`,
      'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER);',
      'BEGIN;',
      ...Array.from({ length: 2000 }, (_, i) => `INSERT INTO t (name, n) VALUES ('row-${i}', ${i});`),
      'COMMIT;',
      'CREATE INDEX t_n ON t (n);',
      "UPDATE t SET name = 'changed' WHERE n % 10 = 0;",
      'DELETE FROM t WHERE n >= 1900;',
    ].join('\n');
    const r = await run('sqlite3', [db], { input: script, timeoutMs: 60_000 });
    t.equal(r.code, 0, `${mode}: the script runs: ${r.stderr}`);
    const q = await run('sqlite3', [db, "SELECT count(*), sum(n), (SELECT count(*) FROM t WHERE name = 'changed') FROM t; PRAGMA integrity_check;"], { timeoutMs: 60_000 });
    t.equal(q.stdout.trim(), `1900|${(1899 * 1900) / 2}|190\nok`, `${mode}: a new process queries the database, integrity ok`);
  }
});
