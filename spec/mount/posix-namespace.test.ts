// POSIX behaviour of a real Realize mount, part 2: the namespace. readdir, mkdir/rmdir,
// rename (every replace and refusal case, and atomicity under a concurrent reader),
// symlink/readlink and link, with the link counts and parent-directory times each leaves.
import t from 'tap';
import { existsSync } from 'node:fs';
import { chmod, link, lstat, mkdir, readdir, readFile, readlink, rename, rmdir, stat, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountForTest } from './helpers/server.js';
import { asNobody } from './helpers/sysops.js';
import { OLD_NS, OLD_S, recentNs, rejectsCode, sysIs, times } from './helpers/expect.js';
import { run, sleep } from './helpers/proc.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const { area, scratch } = await mountForTest(t, 'posix-ns', { allowOther: true });
const A = (...p: string[]): string => join(area, ...p);
const LONG = 'n'.repeat(256);
const MAX = 'm'.repeat(255);
const umask = process.umask();

await mkdir(A('pub'), { mode: 0o777 });
await chmod(A('pub'), 0o777);
await writeFile(A('rootfile'), 'root data\n');

t.test('mkdir and rmdir', { timeout: 60_000 }, async (t) => {
  await utimes(area, OLD_S, OLD_S);
  const n0 = (await stat(area)).nlink;
  await mkdir(A('d1'), { mode: 0o750 });
  const d = await stat(A('d1'));
  t.ok(d.isDirectory(), 'a directory');
  t.equal(d.mode & 0o7777, 0o750 & ~umask, 'mode less the umask');
  t.equal(d.nlink, 2, 'a new directory has nlink 2');
  const p = await times(area);
  t.equal(Number(p.nlink), n0 + 1, 'the parent\'s nlink grows by one');
  t.ok(p.mtime > OLD_NS && recentNs(p.mtime), 'mkdir sets the parent\'s mtime');
  t.ok(recentNs(p.ctime), 'mkdir sets the parent\'s ctime');
  await mkdir(A(MAX));
  t.pass('a 255-byte name is fine');
  await rmdir(A(MAX));

  await rejectsCode(t, mkdir(A('d1')), 'EEXIST', 'mkdir of an existing directory');
  await rejectsCode(t, mkdir(A('rootfile')), 'EEXIST', 'mkdir over a file');
  await rejectsCode(t, mkdir(A('nodir', 'x')), 'ENOENT', 'mkdir in a missing directory');
  await rejectsCode(t, mkdir(A('rootfile', 'x')), 'ENOTDIR', 'mkdir below a file');
  await rejectsCode(t, mkdir(A(LONG)), 'ENAMETOOLONG', 'mkdir with a 256-byte name');
  await rejectsCode(t, mkdir(join(scratch.mnt, 'Bad_Area')), 'EINVAL', 'an area name outside a-z0-9-');
  sysIs(t, await asNobody(['mkdir', A('by-nobody'), 0o755]), 'EACCES', 'nobody: mkdir in root\'s 0755 directory');
  sysIs(t, await asNobody(['mkdir', A('pub', 'by-nobody'), 0o755]), null, 'nobody: mkdir in a 0777 directory');
  t.equal((await stat(A('pub', 'by-nobody'))).uid, 65534, 'the directory belongs to nobody');

  await writeFile(A('d1', 'f'), 'x');
  await rejectsCode(t, rmdir(A('d1')), 'ENOTEMPTY', 'rmdir of a non-empty directory');
  await rejectsCode(t, rmdir(A('d1', 'f')), 'ENOTDIR', 'rmdir of a file');
  await rejectsCode(t, rmdir(A('missing')), 'ENOENT', 'rmdir of a missing name');
  await rejectsCode(t, rmdir(`${A('d1')}/.`), 'EINVAL', 'rmdir of "."');
  sysIs(t, await asNobody(['rmdir', A('d1')]), 'EACCES', 'nobody: rmdir in root\'s directory');
  await unlink(A('d1', 'f'));
  await utimes(area, OLD_S, OLD_S);
  await rmdir(A('d1'));
  await rejectsCode(t, stat(A('d1')), 'ENOENT', 'gone after rmdir');
  const q = await times(area);
  t.equal(Number(q.nlink), n0, 'the parent\'s nlink shrinks back');
  t.ok(q.mtime > OLD_NS && recentNs(q.mtime), 'rmdir sets the parent\'s mtime');
  await rejectsCode(t, rmdir(area), 'EPERM', 'an area is not removed by rmdir');
});

t.test('readdir', { timeout: 60_000 }, async (t) => {
  await mkdir(A('rd'));
  const names = Array.from({ length: 600 }, (_, i) => `entry-${String(i).padStart(4, '0')}`);
  for (const n of names) await writeFile(A('rd', n), n);
  await mkdir(A('rd', 'sub'));
  await symlink('entry-0001', A('rd', 'lnk'));
  const listed = (await readdir(A('rd'))).sort();
  t.same(listed, [...names, 'lnk', 'sub'].sort(), 'every entry listed once (600 files, a directory, a symlink)');
  const typed = await readdir(A('rd'), { withFileTypes: true });
  t.ok(typed.find((e) => e.name === 'sub')?.isDirectory(), 'directory type');
  t.ok(typed.find((e) => e.name === 'lnk')?.isSymbolicLink(), 'symlink type');
  t.ok(typed.find((e) => e.name === 'entry-0000')?.isFile(), 'file type');
  // d_ino, as a listing hands it over (Python's scandir reads it without a stat).
  const dIno = await run('python3', ['-c', 'import os, sys; print(*sorted(f"{e.name}={e.inode()}" for e in os.scandir(sys.argv[1]) if e.name in ("sub", "lnk", "entry-0001")))', A('rd')]);
  const want = ['entry-0001', 'lnk', 'sub'].map(async (n) => `${n}=${(await lstat(A('rd', n))).ino}`);
  t.equal(dIno.stdout.trim(), (await Promise.all(want)).join(' '), 'each entry listed with its inode number');
  await unlink(A('rd', 'entry-0000'));
  t.notOk((await readdir(A('rd'))).includes('entry-0000'), 'an unlinked name is no longer listed');
  t.ok((await readdir(scratch.mnt)).includes('home'), 'the root lists the areas');
  const ls = await run('ls', ['-a', A('rd', 'sub')]);
  t.same(ls.stdout.split('\n').filter(Boolean), ['.', '..'], 'an empty directory lists . and ..');

  await rejectsCode(t, readdir(A('missing')), 'ENOENT', 'readdir of a missing directory');
  await rejectsCode(t, readdir(A('rootfile')), 'ENOTDIR', 'readdir of a file');
  await mkdir(A('private'), { mode: 0o700 });
  sysIs(t, await asNobody(['listdir', A('private')]), 'EACCES', 'nobody: readdir of root\'s 0700 directory');
  sysIs(t, await asNobody(['listdir', A('rd')]), null, 'nobody: readdir of a 0755 directory');
});

t.test('rename', { timeout: 60_000 }, async (t) => {
  await mkdir(A('r1'));
  await mkdir(A('r2'));
  await writeFile(A('r1', 'a'), 'A');
  const ino = (await stat(A('r1', 'a'))).ino;
  await utimes(A('r1'), OLD_S, OLD_S);
  await utimes(A('r2'), OLD_S, OLD_S);
  const c0 = (await times(A('r1', 'a'))).ctime;
  await sleep(5);

  await rename(A('r1', 'a'), A('r1', 'b'));
  await rejectsCode(t, stat(A('r1', 'a')), 'ENOENT', 'the old name is gone');
  t.equal((await stat(A('r1', 'b'))).ino, ino, 'same inode under the new name');
  t.equal(await readFile(A('r1', 'b'), 'utf8'), 'A', 'same content');
  t.ok((await times(A('r1'))).mtime > OLD_NS, 'rename sets the directory\'s mtime');
  t.ok((await times(A('r1', 'b'))).ctime > c0, 'rename sets the file\'s ctime');
  t.equal((await times(A('r2'))).mtime, OLD_NS, 'an unrelated directory is untouched');

  // Replace an existing file.
  await writeFile(A('r1', 'c'), 'C');
  await rename(A('r1', 'b'), A('r1', 'c'));
  t.equal(await readFile(A('r1', 'c'), 'utf8'), 'A', 'the target is replaced');
  t.equal((await stat(A('r1', 'c'))).ino, ino, 'by the moved inode');
  t.same((await readdir(A('r1'))).sort(), ['c'], 'one entry left');

  // Across directories.
  await utimes(A('r1'), OLD_S, OLD_S);
  await rename(A('r1', 'c'), A('r2', 'c'));
  t.ok((await times(A('r1'))).mtime > OLD_NS, 'cross-directory rename sets the source directory\'s mtime');
  t.ok((await times(A('r2'))).mtime > OLD_NS, 'and the target directory\'s mtime');
  t.equal(await readFile(A('r2', 'c'), 'utf8'), 'A', 'content moved');

  // A directory across directories: link counts follow.
  await mkdir(A('r1', 'sub'));
  await writeFile(A('r1', 'sub', 'inner'), 'i');
  const n1 = (await stat(A('r1'))).nlink;
  const n2 = (await stat(A('r2'))).nlink;
  await rename(A('r1', 'sub'), A('r2', 'sub'));
  t.equal((await stat(A('r1'))).nlink, n1 - 1, 'moving a directory out drops the source\'s nlink');
  t.equal((await stat(A('r2'))).nlink, n2 + 1, 'and raises the target\'s');
  t.equal(await readFile(A('r2', 'sub', 'inner'), 'utf8'), 'i', 'the subtree moved along');

  // A directory onto an empty directory.
  await mkdir(A('r1', 'empty'));
  await rename(A('r2', 'sub'), A('r1', 'empty'));
  t.equal(await readFile(A('r1', 'empty', 'inner'), 'utf8'), 'i', 'a directory replaces an empty directory');

  // Refusals.
  await mkdir(A('r2', 'full'));
  await writeFile(A('r2', 'full', 'x'), 'x');
  await rejectsCode(t, rename(A('r1', 'empty'), A('r2', 'full')), 'ENOTEMPTY', 'a directory onto a non-empty directory');
  await rejectsCode(t, rename(A('r1', 'empty'), A('r2', 'c')), 'ENOTDIR', 'a directory onto a file');
  await rejectsCode(t, rename(A('r2', 'c'), A('r2', 'full')), 'EISDIR', 'a file onto a directory');
  await rejectsCode(t, rename(A('r1', 'empty'), A('r1', 'empty', 'deeper')), 'EINVAL', 'a directory into its own subtree');
  await rejectsCode(t, rename(A('r1'), A('r1', 'empty', 'x')), 'EINVAL', 'a directory into its own grandchild');
  await rejectsCode(t, rename(A('r1', 'missing'), A('r1', 'z')), 'ENOENT', 'a missing source');
  await rejectsCode(t, rename(A('r2', 'c'), A('nodir', 'z')), 'ENOENT', 'into a missing directory');
  await rejectsCode(t, rename(A('r2', 'c'), A('r2', 'c', 'z')), 'ENOTDIR', 'below a file');
  await rejectsCode(t, rename(A('r2', 'c'), A('r2', LONG)), 'ENAMETOOLONG', 'to a 256-byte name');
  t.equal(await readFile(A('r2', 'c'), 'utf8'), 'A', 'refused renames changed nothing');
  t.ok(existsSync(A('r2', 'full', 'x')), 'the non-empty directory is intact');
  await mkdir(join(scratch.mnt, 'other'));
  await rejectsCode(t, rename(A('r2', 'c'), join(scratch.mnt, 'other', 'c')), 'EXDEV', 'to another area');
  await rejectsCode(t, rename(A('r2'), join(scratch.mnt, 'r2')), 'EPERM', 'to the root, where only areas live');

  // No-ops: to itself, and onto another link of the same file.
  await rename(A('r2', 'c'), A('r2', 'c'));
  t.equal(await readFile(A('r2', 'c'), 'utf8'), 'A', 'renaming a file to itself keeps it');
  await link(A('r2', 'c'), A('r2', 'c2'));
  await rename(A('r2', 'c'), A('r2', 'c2'));
  t.ok(existsSync(A('r2', 'c')) && existsSync(A('r2', 'c2')), 'renaming onto another link of the same file does nothing (POSIX)');

  // Permissions.
  sysIs(t, await asNobody(['rename', A('rootfile'), A('rootfile2')]), 'EACCES', 'nobody: rename in root\'s directory');
  await mkdir(A('sticky'));
  await chmod(A('sticky'), 0o1777);
  await writeFile(A('sticky', 'roots'), 'x');
  sysIs(t, await asNobody(['rename', A('sticky', 'roots'), A('sticky', 'mine')]), 'EPERM', 'nobody: rename of root\'s file in a sticky directory');
  sysIs(t, await asNobody(['rename', A('rootfile'), A('pub', 'stolen')]), 'EACCES', 'nobody: move out of root\'s directory');
});

t.test('rename over a file is atomic for a concurrent reader', { timeout: 90_000 }, async (t) => {
  await mkdir(A('atomic'));
  const target = A('atomic', 'target');
  await writeFile(target, 'version-0000\n'.repeat(100));
  // The reader opens and reads the target in a loop until told to stop, counting misses.
  // It writes how many reads it has made to a progress file (outside the mount) every 20.
  const script = `
    const fs = require('fs');
    const [target, stop, progress] = process.argv.slice(1);
    let reads = 0, missing = 0, torn = 0, stale = 0, other = [];
    const until = Date.now() + 60000;
    while (!fs.existsSync(stop) && Date.now() < until) {
      let step = 'open', fd;
      try {
        fd = fs.openSync(target, 'r');
        step = 'fstat';
        const size = fs.fstatSync(fd).size;
        step = 'read';
        const b = Buffer.alloc(size + 100);
        const n = fs.readSync(fd, b, 0, b.length, 0);
        const lines = b.subarray(0, n).toString('utf8').split('\\n').filter(Boolean);
        if (n !== size || lines.length !== 100 || lines.some((l) => l !== lines[0])) torn++;
        reads++;
        if (reads % 20 === 0) fs.writeFileSync(progress, String(reads));
      } catch (e) {
        if (e.code === 'ENOENT') missing++;
        else if (e.code === 'ESTALE' || e.errno === -116) stale++; // libuv names no ESTALE: 'Unknown system error -116'
        else other.push(step + ': ' + (e.code || e.message));
      }
      finally { if (fd !== undefined) fs.closeSync(fd); }
    }
    console.log(JSON.stringify({ reads, missing, torn, stale, other: other.slice(0, 5) }));`;
  const stop = join(scratch.dir, 'stop-reader');
  const progress = join(scratch.dir, 'reader-progress');
  const readsSoFar = async (): Promise<number> => Number(await readFile(progress, 'utf8').catch(() => '0'));
  const reader = run(process.execPath, ['-e', script, target, stop, progress], { timeoutMs: 80_000 });
  // Renames run while the reader reads: at least 300 of them, and on until it has read 200
  // times (its start may take a while on a loaded machine), at most 5,000.
  let rounds = 0;
  for (let i = 1; i <= 5000 && (i <= 300 || (await readsSoFar()) < 200); i++) {
    const tmp = A('atomic', `tmp-${i}`);
    await writeFile(tmp, `version-${String(i).padStart(4, '0')}\n`.repeat(100));
    await rename(tmp, target);
    rounds = i;
  }
  await writeFile(stop, '');
  const r = await reader;
  t.equal(r.code, 0, `reader ran: ${r.stderr}`);
  const res = JSON.parse(r.stdout) as { reads: number; missing: number; torn: number; stale: number; other: string[] };
  t.ok(res.reads >= 200, `the reader read ${res.reads} times during ${rounds} renames`);
  t.equal(res.missing, 0, 'the target was never missing');
  t.equal(res.torn, 0, 'never a mix of two versions');
  // libfuse 2 forgets a replaced node's path; the mount answers ESTALE for it and Linux retries
  // the lookup once. Only when that retry races a second rename does ESTALE reach the caller
  // (README, Limits): measured 0-8 in 300-400 reads (up to 2.6%) while renames run back to
  // back, as here, more under load (the bound of 0.5% before failed a CI run at 6 in 338). Were
  // the ENOENT not turned into ESTALE, the reads would find the target missing (asserted above).
  t.same(res.other, [], 'no other errors');
  t.ok(res.stale <= Math.max(5, res.reads * 0.05), `ESTALE only from a retry racing another rename (${res.stale} in ${res.reads} reads)`);
  t.equal((await readFile(target, 'utf8')).slice(0, 12), `version-${String(rounds).padStart(4, '0')}`, 'the last version stays');
  t.same(await readdir(A('atomic')), ['target'], 'no temporary left');
});

t.test('symlink and readlink', { timeout: 60_000 }, async (t) => {
  await mkdir(A('sl'));
  await writeFile(A('sl', 'real'), 'real content');
  await utimes(A('sl'), OLD_S, OLD_S);
  await symlink('real', A('sl', 'link'));
  const l = await lstat(A('sl', 'link'));
  t.ok(l.isSymbolicLink(), 'lstat sees a symlink');
  t.equal(l.size, 4, 'its size is the target\'s length');
  t.equal(await readlink(A('sl', 'link')), 'real', 'readlink gives the target');
  t.equal(await readFile(A('sl', 'link'), 'utf8'), 'real content', 'opening follows the link');
  t.ok((await times(A('sl'))).mtime > OLD_NS, 'symlink sets the parent\'s mtime');
  const long = `${'d/'.repeat(1000)}end`;
  await symlink(long, A('sl', 'longlink'));
  t.equal(await readlink(A('sl', 'longlink')), long, 'a 2 KiB target reads back whole');
  await symlink('nowhere', A('sl', 'dangling'));
  await rejectsCode(t, stat(A('sl', 'dangling')), 'ENOENT', 'stat of a dangling link');
  t.ok((await lstat(A('sl', 'dangling'))).isSymbolicLink(), 'lstat of a dangling link');
  await symlink('loop2', A('sl', 'loop1'));
  await symlink('loop1', A('sl', 'loop2'));
  await rejectsCode(t, stat(A('sl', 'loop1')), 'ELOOP', 'a symlink loop');
  await symlink('/etc/hostname', A('sl', 'abs'));
  t.equal(await readlink(A('sl', 'abs')), '/etc/hostname', 'absolute targets are kept as given');

  await rejectsCode(t, symlink('x', A('sl', 'real')), 'EEXIST', 'symlink over an existing name');
  await rejectsCode(t, symlink('x', A('nodir', 'l')), 'ENOENT', 'symlink in a missing directory');
  await rejectsCode(t, symlink('x', A(LONG)), 'ENAMETOOLONG', 'symlink with a 256-byte name');
  await rejectsCode(t, readlink(A('sl', 'real')), 'EINVAL', 'readlink of a file');
  await rejectsCode(t, readlink(A('sl', 'missing')), 'ENOENT', 'readlink of a missing name');
  sysIs(t, await asNobody(['symlink', 'x', A('sl', 'nob')]), 'EACCES', 'nobody: symlink in root\'s directory');
});

t.test('link', { timeout: 60_000 }, async (t) => {
  await mkdir(A('hl'));
  await writeFile(A('hl', 'one'), 'shared');
  await utimes(A('hl'), OLD_S, OLD_S);
  const c0 = (await times(A('hl', 'one'))).ctime;
  await sleep(5);
  await link(A('hl', 'one'), A('hl', 'two'));
  const a = await stat(A('hl', 'one'), { bigint: true });
  const b = await stat(A('hl', 'two'), { bigint: true });
  t.equal(b.ino, a.ino, 'same inode');
  t.equal(b.nlink, 2n, 'nlink 2 on the new name');
  t.ok(b.ctimeNs > c0, 'link sets the file\'s ctime');
  t.ok((await times(A('hl'))).mtime > OLD_NS, 'link sets the parent\'s mtime');
  await writeFile(A('hl', 'two'), 'changed through two');
  // libfuse 2's path API gives each name its own kernel inode: the other name's cached size
  // holds until the attribute timeout (1 s).
  await sleep(1100);
  t.equal(await readFile(A('hl', 'one'), 'utf8'), 'changed through two', 'content is shared');
  await mkdir(A('hl', 'sub'));
  await link(A('hl', 'one'), A('hl', 'sub', 'three'));
  t.equal(await readFile(A('hl', 'sub', 'three'), 'utf8'), 'changed through two', 'a link in another directory');

  await rejectsCode(t, link(A('hl', 'one'), A('hl', 'two')), 'EEXIST', 'link onto an existing name');
  await rejectsCode(t, link(A('hl', 'missing'), A('hl', 'x')), 'ENOENT', 'link of a missing file');
  await rejectsCode(t, link(A('hl', 'one'), A('nodir', 'x')), 'ENOENT', 'link into a missing directory');
  await rejectsCode(t, link(A('hl', 'sub'), A('hl', 'sublink')), 'EPERM', 'link of a directory');
  await rejectsCode(t, link(A('hl', 'one'), A(LONG)), 'ENAMETOOLONG', 'link with a 256-byte name');
  await mkdir(join(scratch.mnt, 'other2'));
  await rejectsCode(t, link(A('hl', 'one'), join(scratch.mnt, 'other2', 'x')), 'EXDEV', 'link to another area');
  await writeFile(A('hl', 'secret'), 's', { mode: 0o600 });
  sysIs(t, await asNobody(['link', A('hl', 'secret'), A('pub', 'stolen')]), 'EPERM', 'nobody: link of root\'s 0600 file (protected_hardlinks)');
  sysIs(t, await asNobody(['create', A('pub', 'nobodys'), 0o644]), null, 'nobody: a file of its own');
  sysIs(t, await asNobody(['link', A('pub', 'nobodys'), A('hl', 'x')]), 'EACCES', 'nobody: link into root\'s directory');
  sysIs(t, await asNobody(['link', A('pub', 'nobodys'), A('pub', 'nobodys2')]), null, 'nobody: link its own file in a 0777 directory');
});
