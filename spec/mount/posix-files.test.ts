// POSIX behaviour of a real Realize mount, part 1: getattr, access, statfs, the life of an open
// file (open/create/read/write/flush/fsync/release), truncate/ftruncate and unlink, with the
// sizes and times each leaves behind and the errnos each refuses with.
//
// The mount is served by a child process (spec/mount/helpers/server.ts); this process drives it
// with fs/promises only, and runs the calls of uid 65534 in children (helpers/sysops.ts).
import t from 'tap';
import { constants, existsSync } from 'node:fs';
import { access, chmod, mkdir, open, readdir, readFile, stat, statfs, symlink, truncate, unlink, utimes, writeFile, link } from 'node:fs/promises';
import { join } from 'node:path';
import { mountForTest } from './helpers/server.js';
import { asNobody, sys1 } from './helpers/sysops.js';
import { OLD_NS, OLD_S, recentNs, rejectsCode, sysIs, times } from './helpers/expect.js';
import { sleep } from './helpers/proc.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const { area, scratch } = await mountForTest(t, 'posix-files', { allowOther: true });
const A = (...p: string[]): string => join(area, ...p);
const LONG = 'n'.repeat(256);
const umask = process.umask();

// A directory anyone may write in, and a file of root's that others may only read.
await mkdir(A('pub'), { mode: 0o777 });
await chmod(A('pub'), 0o777);
await writeFile(A('rootfile'), 'root data\n', { mode: 0o644 });
await writeFile(A('secret'), 'secret\n', { mode: 0o600 });

t.test('getattr', { timeout: 60_000 }, async (t) => {
  const root = await stat(scratch.mnt);
  t.ok(root.isDirectory(), 'the mount root is a directory');
  t.equal(root.ino, 1, 'the mount root is inode 1');
  const a = await stat(area);
  t.ok(a.isDirectory(), 'an area is a directory');
  t.equal(a.mode & 0o7777, 0o755 & ~umask, 'area mode is the mkdir mode less the umask');
  t.equal(a.uid, 0, 'owned by the creator');

  const before = BigInt(Date.now() - 1000) * 1_000_000n;
  await writeFile(A('ga'), 'abc');
  const s = await stat(A('ga'), { bigint: true });
  t.ok(s.isFile(), 'a regular file');
  t.equal(s.size, 3n, 'size');
  t.equal(Number(s.mode & 0o7777n), 0o666 & ~umask, 'mode is 0666 less the umask');
  t.equal(s.nlink, 1n, 'one link');
  t.equal(s.uid, 0n, 'uid of the creator');
  t.equal(s.gid, 0n, 'gid of the creator');
  t.ok(s.mtimeNs >= before && recentNs(s.mtimeNs), 'mtime is now');
  t.ok(s.ctimeNs >= before && recentNs(s.ctimeNs), 'ctime is now');
  t.ok(s.atimeNs >= before && recentNs(s.atimeNs), 'atime is now');
  t.equal(s.blksize, 4096n, 'blksize');
  t.not((await stat(A('rootfile'))).ino, (await stat(A('ga'))).ino, 'distinct inode numbers');

  await rejectsCode(t, stat(A('missing')), 'ENOENT', 'stat of a missing name');
  await rejectsCode(t, stat(A('missing', 'x')), 'ENOENT', 'stat below a missing directory');
  await rejectsCode(t, stat(A('ga', 'x')), 'ENOTDIR', 'stat below a file');
  await rejectsCode(t, stat(A(LONG)), 'ENAMETOOLONG', 'stat of a 256-byte name');
  await rejectsCode(t, stat(join(scratch.mnt, 'nosucharea')), 'ENOENT', 'stat of a missing area');
});

t.test('access', { timeout: 60_000 }, async (t) => {
  await access(A('rootfile'), constants.R_OK | constants.W_OK);
  t.pass('root may read and write');
  await rejectsCode(t, access(A('missing')), 'ENOENT', 'access of a missing name');
  await rejectsCode(t, access(A('rootfile', 'x')), 'ENOTDIR', 'access below a file');
  sysIs(t, await asNobody(['access', A('rootfile'), 'r']), null, 'nobody: R_OK on a 0644 file');
  sysIs(t, await asNobody(['access', A('rootfile'), 'w']), 'EACCES', 'nobody: W_OK on root\'s 0644 file');
  sysIs(t, await asNobody(['access', A('rootfile'), 'x']), 'EACCES', 'nobody: X_OK on a 0644 file');
  sysIs(t, await asNobody(['access', A('secret'), 'r']), 'EACCES', 'nobody: R_OK on root\'s 0600 file');
  sysIs(t, await asNobody(['access', A('pub'), 'w']), null, 'nobody: W_OK on a 0777 directory');
  sysIs(t, await asNobody(['access', A('missing'), 'f']), 'ENOENT', 'nobody: F_OK on a missing name');
});

t.test('statfs', { timeout: 60_000 }, async (t) => {
  const s = await statfs(scratch.mnt);
  t.ok(s.bsize > 0, 'block size');
  t.ok(s.blocks > 0, 'total blocks');
  t.ok(s.bfree <= s.blocks && s.bavail <= s.blocks, 'free <= total');
  const v = await sys1(['statvfs', area]);
  t.equal((v.ok as { namemax: number }).namemax, 255, 'name max 255');
  await rejectsCode(t, statfs(A('missing')), 'ENOENT', 'statfs of a missing path');
});

t.test('create, write, read, flush, fsync, release', { timeout: 60_000 }, async (t) => {
  const dirBefore = await times(area);
  await utimes(area, OLD_S, OLD_S);
  const fh = await open(A('f1'), constants.O_CREAT | constants.O_EXCL | constants.O_RDWR, 0o640);
  try {
    const s0 = await fh.stat();
    t.equal(s0.mode & 0o7777, 0o640 & ~umask, 'created with the given mode less the umask');
    t.equal(s0.size, 0, 'empty');
    const dir = await times(area);
    t.ok(dir.mtime > OLD_NS && recentNs(dir.mtime), 'create sets the parent\'s mtime');
    t.ok(dir.ctime >= dirBefore.ctime && recentNs(dir.ctime), 'create sets the parent\'s ctime');

    const w = await fh.write(Buffer.from('hello world'), 0, 11, 0);
    t.equal(w.bytesWritten, 11, 'write returns the count');
    t.equal((await fh.stat()).size, 11, 'fstat sees the new size before any flush');
    t.equal((await stat(A('f1'))).size, 11, 'stat by path sees it too');
    const buf = Buffer.alloc(32);
    const r = await fh.read(buf, 0, 32, 0);
    t.equal(buf.subarray(0, r.bytesRead).toString(), 'hello world', 'read through the same handle');
    t.equal((await readFile(A('f1'))).toString(), 'hello world', 'read through another handle');
    t.equal((await fh.read(Buffer.alloc(8), 0, 8, 11)).bytesRead, 0, 'read at the end returns 0');
    t.equal((await fh.read(Buffer.alloc(8), 0, 8, 1000)).bytesRead, 0, 'read past the end returns 0');

    // Times: a write moves mtime and ctime of the file, not the parent's.
    await utimes(area, OLD_S, OLD_S);
    await fh.utimes(OLD_S, OLD_S);
    const c0 = (await fh.stat({ bigint: true })).ctimeNs;
    await sleep(5);
    await fh.write(Buffer.from('HELLO'), 0, 5, 0);
    const s1 = await fh.stat({ bigint: true });
    t.ok(s1.mtimeNs > OLD_NS && recentNs(s1.mtimeNs), 'write sets mtime (seen by fstat while open)');
    t.ok(s1.ctimeNs > c0, 'write sets ctime');
    await fh.sync();
    t.pass('fsync');
    await fh.datasync();
    t.pass('fdatasync');
    const s2 = await fh.stat({ bigint: true });
    t.ok(s2.mtimeNs >= s1.mtimeNs, 'mtime does not go back at fsync');
    t.equal((await times(area)).mtime, OLD_NS, 'writing a file leaves the parent\'s mtime');
  } finally {
    await fh.close();
  }
  t.equal(await readFile(A('f1'), 'utf8'), 'HELLO world', 'content after release');

  // Holes, big writes, O_TRUNC, O_APPEND.
  const big = Buffer.alloc(1024 * 1024 + 4321);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 12)) & 0xff;
  const h2 = await open(A('f2'), 'w+');
  await h2.write(big, 0, big.length, 0);
  await h2.write(Buffer.from('tail'), 0, 4, 3_000_000);
  await h2.close();
  const got = await readFile(A('f2'));
  t.equal(got.length, 3_000_004, 'a write past the end extends the file');
  t.ok(got.subarray(0, big.length).equals(big), '1 MiB + odd bytes read back');
  t.ok(got.subarray(big.length, 3_000_000).every((b) => b === 0), 'the hole reads as zeros');
  t.equal(got.subarray(3_000_000).toString(), 'tail', 'the bytes after the hole');

  await writeFile(A('f2'), 'short');
  t.equal(await readFile(A('f2'), 'utf8'), 'short', 'O_TRUNC then write');
  const h3 = await open(A('f2'), 'a');
  await h3.write('+more');
  await h3.close();
  t.equal(await readFile(A('f2'), 'utf8'), 'short+more', 'O_APPEND appends');

  // Errnos.
  await rejectsCode(t, open(A('f1'), constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY), 'EEXIST', 'O_CREAT|O_EXCL on an existing file');
  await rejectsCode(t, open(A('nofile'), 'r'), 'ENOENT', 'open of a missing file');
  await rejectsCode(t, open(A('nodir', 'f'), 'w'), 'ENOENT', 'create in a missing directory');
  await rejectsCode(t, open(A('f1', 'x'), 'w'), 'ENOTDIR', 'create below a file');
  await rejectsCode(t, open(area, 'w'), 'EISDIR', 'open a directory for writing');
  await rejectsCode(t, open(A('f1'), constants.O_RDONLY | constants.O_DIRECTORY), 'ENOTDIR', 'O_DIRECTORY on a file');
  await rejectsCode(t, open(A(LONG), 'w'), 'ENAMETOOLONG', 'create with a 256-byte name');
  await rejectsCode(t, open(join(scratch.mnt, 'toplevel'), 'w'), 'EPERM', 'a file at the root (only areas live there)');
  const ro = await open(A('f1'), 'r');
  await rejectsCode(t, ro.write('x'), 'EBADF', 'write on a read-only handle');
  await ro.close();

  // Permissions, as uid 65534.
  sysIs(t, await asNobody(['open', A('rootfile'), ['O_WRONLY']]), 'EACCES', 'nobody: open root\'s 0644 file for writing');
  sysIs(t, await asNobody(['open', A('secret'), ['O_RDONLY']]), 'EACCES', 'nobody: open root\'s 0600 file for reading');
  sysIs(t, await asNobody(['read_file', A('rootfile')]), null, 'nobody: read a 0644 file');
  sysIs(t, await asNobody(['create', A('nobody-here'), 0o644]), 'EACCES', 'nobody: create in root\'s 0755 directory');
  sysIs(t, await asNobody(['create', A('pub', 'mine'), 0o600]), null, 'nobody: create in a 0777 directory');
  const mine = await stat(A('pub', 'mine'));
  t.equal(mine.uid, 65534, 'the new file belongs to its creator (uid)');
  t.equal(mine.gid, 65534, 'the new file belongs to its creator (gid)');
  sysIs(t, await asNobody(['write_file', A('pub', 'mine'), 'by nobody']), null, 'nobody: write its own file');
  t.equal(await readFile(A('pub', 'mine'), 'utf8'), 'by nobody', 'content written by nobody');
});

t.test('truncate and ftruncate', { timeout: 60_000 }, async (t) => {
  await writeFile(A('tr'), Buffer.from('0123456789'));
  await utimes(A('tr'), OLD_S, OLD_S);
  const c0 = (await times(A('tr'))).ctime;
  await sleep(5);
  await truncate(A('tr'), 4);
  let s = await times(A('tr'));
  t.equal(s.size, 4n, 'truncate down');
  t.ok(s.mtime > OLD_NS && recentNs(s.mtime), 'truncate sets mtime');
  t.ok(s.ctime > c0, 'truncate sets ctime');
  t.equal(await readFile(A('tr'), 'utf8'), '0123', 'content cut');
  await truncate(A('tr'), 10_000);
  const up = await readFile(A('tr'));
  t.equal(up.length, 10_000, 'truncate up');
  t.equal(up.subarray(0, 4).toString(), '0123', 'old bytes kept');
  t.ok(up.subarray(4).every((b) => b === 0), 'truncate up reads as zeros');
  await truncate(A('tr'), 0);
  t.equal((await stat(A('tr'))).size, 0, 'truncate to zero');

  const fh = await open(A('tr'), 'r+');
  try {
    await fh.write(Buffer.alloc(70_000, 0x61), 0, 70_000, 0);
    await fh.truncate(65_537);
    t.equal((await fh.stat()).size, 65_537, 'ftruncate down across a block boundary');
    await fh.write(Buffer.from('Z'), 0, 1, 65_540);
    const b = Buffer.alloc(8);
    const { bytesRead } = await fh.read(b, 0, 8, 65_535);
    t.same([...b.subarray(0, bytesRead)], [0x61, 0x61, 0, 0, 0, 0x5a], 'bytes cut by ftruncate are zero when the file grows again');
    await fh.truncate(200_000);
    t.equal((await fh.stat()).size, 200_000, 'ftruncate up');
    const tail = Buffer.alloc(10);
    await fh.read(tail, 0, 10, 199_990);
    t.ok(tail.every((x) => x === 0), 'the grown part is zeros');
  } finally {
    await fh.close();
  }
  const ro = await open(A('tr'), 'r');
  await rejectsCode(t, ro.truncate(1), 'EINVAL', 'ftruncate of a read-only handle');
  await ro.close();

  await rejectsCode(t, truncate(A('missing'), 1), 'ENOENT', 'truncate of a missing file');
  await rejectsCode(t, truncate(area, 1), 'EISDIR', 'truncate of a directory');
  await rejectsCode(t, truncate(A('tr', 'x'), 1), 'ENOTDIR', 'truncate below a file');
  sysIs(t, await sys1(['truncate', A('tr'), -1]), 'EINVAL', 'truncate to a negative size');
  sysIs(t, await asNobody(['truncate', A('rootfile'), 0]), 'EACCES', 'nobody: truncate root\'s 0644 file');
  t.equal(await readFile(A('rootfile'), 'utf8'), 'root data\n', 'refused truncate changed nothing');
});

t.test('unlink', { timeout: 60_000 }, async (t) => {
  await mkdir(A('ud'));
  await writeFile(A('ud', 'a'), 'a');
  await link(A('ud', 'a'), A('ud', 'b'));
  await utimes(A('ud'), OLD_S, OLD_S);
  const c0 = (await times(A('ud', 'a'))).ctime;
  await sleep(5);
  await unlink(A('ud', 'a'));
  await rejectsCode(t, stat(A('ud', 'a')), 'ENOENT', 'gone after unlink');
  t.same(await readdir(A('ud')), ['b'], 'not listed');
  const d = await times(A('ud'));
  t.ok(d.mtime > OLD_NS && recentNs(d.mtime), 'unlink sets the parent\'s mtime');
  // libfuse 2's path API gives each name of a hard-linked file its own kernel inode, so the
  // other name's attributes are the kernel's cached ones until the attribute timeout (1 s).
  await sleep(1100);
  const b = await times(A('ud', 'b'));
  t.equal(b.nlink, 1n, 'the other link\'s nlink drops to 1');
  t.ok(b.ctime > c0, 'the other link\'s ctime changes');

  await rejectsCode(t, unlink(A('ud', 'a')), 'ENOENT', 'unlink of a missing name');
  await rejectsCode(t, unlink(A('ud')), 'EISDIR', 'unlink of a directory');
  await rejectsCode(t, unlink(A('ud', 'b', 'x')), 'ENOTDIR', 'unlink below a file');
  await rejectsCode(t, unlink(A(LONG)), 'ENAMETOOLONG', 'unlink of a 256-byte name');
  await symlink('ud', A('ud-link'));
  await unlink(A('ud-link'));
  t.ok(existsSync(A('ud')), 'unlinking a symlink leaves its target');

  sysIs(t, await asNobody(['unlink', A('rootfile')]), 'EACCES', 'nobody: unlink in root\'s 0755 directory');
  await mkdir(A('sticky'));
  await chmod(A('sticky'), 0o1777);
  await writeFile(A('sticky', 'roots'), 'x');
  sysIs(t, await asNobody(['unlink', A('sticky', 'roots')]), 'EPERM', 'nobody: unlink of root\'s file in a sticky directory');
  sysIs(t, await asNobody(['create', A('sticky', 'own'), 0o644]), null, 'nobody: create in a sticky directory');
  sysIs(t, await asNobody(['unlink', A('sticky', 'own')]), null, 'nobody: unlink of its own file in a sticky directory');
});

t.test('an unlinked file stays readable and writable through its open handle', { timeout: 60_000 }, async (t) => {
  await writeFile(A('ghost'), 'first part;');
  const fh = await open(A('ghost'), 'r+');
  try {
    await unlink(A('ghost'));
    await rejectsCode(t, stat(A('ghost')), 'ENOENT', 'the name is gone');
    const b = Buffer.alloc(64);
    let r = await fh.read(b, 0, 64, 0);
    t.equal(b.subarray(0, r.bytesRead).toString(), 'first part;', 'read through the open handle');
    await fh.write(Buffer.from('second part'), 0, 11, 11);
    // fstat(2) reaches libfuse 2 as a getattr without a file handle, answerable by path only;
    // the patched fuse-native adds the handle the node is open with (mount/native).
    const st = await fh.stat();
    t.equal(st.size, 22, 'fstat of the unlinked file sees the write');
    t.equal(st.nlink, 0, 'and says it has no link');
    await fh.sync();
    r = await fh.read(b, 0, 64, 0);
    t.equal(b.subarray(0, r.bytesRead).toString(), 'first part;second part', 'written bytes read back');
    await fh.truncate(5);
    r = await fh.read(b, 0, 64, 0);
    t.equal(b.subarray(0, r.bytesRead).toString(), 'first', 'ftruncate of the unlinked file');
    await fh.truncate(12);
    await fh.write(Buffer.from('!'), 0, 1, 12);
    r = await fh.read(b, 0, 64, 0);
    t.equal(b.subarray(0, r.bytesRead).toString('latin1'), 'first\0\0\0\0\0\0\0!', 'grown again: the cut part reads as zeros');
    await writeFile(A('ghost'), 'another file by that name');
    r = await fh.read(b, 0, 64, 0);
    t.equal(r.bytesRead, 13, 'a new file by the same name does not disturb the open one');
  } finally {
    await fh.close();
  }
  t.equal((await readdir(area)).filter((n) => n.includes('ghost') || n.startsWith('.fuse_hidden')).join(), 'ghost', 'only the new file is listed');
  t.equal(await readFile(A('ghost'), 'utf8'), 'another file by that name', 'the new file kept its content');
});
