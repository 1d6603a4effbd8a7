// POSIX behaviour of a real Realize mount, part 3: attributes. chmod/chown, utimens (with
// UTIME_OMIT and UTIME_NOW), and extended attributes (XATTR_CREATE/XATTR_REPLACE, the computed
// user.realize.* attributes, POSIX ACLs), with the ctime each moves and the errnos of a caller
// (uid 65534) whom modes or ownership forbid.
import t from 'tap';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, open, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountForTest } from './helpers/server.js';
import { asNobody, sys, sys1 } from './helpers/sysops.js';
import { OLD_NS, OLD_S, recentNs, rejectsCode, sysIs, times } from './helpers/expect.js';
import { run, sleep } from './helpers/proc.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const { area } = await mountForTest(t, 'posix-attrs', { allowOther: true });
const A = (...p: string[]): string => join(area, ...p);

await mkdir(A('pub'), { mode: 0o777 });
await chmod(A('pub'), 0o777);
await writeFile(A('rootfile'), 'root data\n', { mode: 0o644 });

t.test('chmod', { timeout: 60_000 }, async (t) => {
  await writeFile(A('cm'), 'x');
  await utimes(A('cm'), OLD_S, OLD_S);
  const c0 = (await times(A('cm'))).ctime;
  await sleep(5);
  await chmod(A('cm'), 0o4751);
  const s = await times(A('cm'));
  t.equal(Number(s.mode & 0o7777n), 0o4751, 'mode bits, setuid included');
  t.ok(s.ctime > c0, 'chmod sets ctime');
  t.equal(s.mtime, OLD_NS, 'chmod leaves mtime');
  await chmod(A('cm'), 0o600);
  t.equal((await stat(A('cm'))).mode & 0o7777, 0o600, 'chmod again');
  await mkdir(A('cmd'));
  await chmod(A('cmd'), 0o700);
  t.equal((await stat(A('cmd'))).mode & 0o7777, 0o700, 'chmod of a directory');
  await rejectsCode(t, chmod(A('missing'), 0o644), 'ENOENT', 'chmod of a missing file');
  await rejectsCode(t, chmod(A('cm', 'x'), 0o644), 'ENOTDIR', 'chmod below a file');
  sysIs(t, await asNobody(['chmod', A('rootfile'), 0o666]), 'EPERM', 'nobody: chmod of root\'s file');
  sysIs(t, await asNobody(['create', A('pub', 'own'), 0o600]), null, 'nobody: a file of its own');
  sysIs(t, await asNobody(['chmod', A('pub', 'own'), 0o644]), null, 'nobody: chmod of its own file');
  t.equal((await stat(A('pub', 'own'))).mode & 0o7777, 0o644, 'mode changed by its owner');
  sysIs(t, await asNobody(['open', A('cmd', 'x'), ['O_RDONLY']]), 'EACCES', 'the new directory mode is enforced');
});

t.test('chown', { timeout: 60_000 }, async (t) => {
  await writeFile(A('co'), 'x');
  const c0 = (await times(A('co'))).ctime;
  await sleep(5);
  await chown(A('co'), 65534, 65534);
  let s = await stat(A('co'), { bigint: true });
  t.equal(s.uid, 65534n, 'uid');
  t.equal(s.gid, 65534n, 'gid');
  t.ok(s.ctimeNs > c0, 'chown sets ctime');
  await chown(A('co'), -1, 0);
  s = await stat(A('co'), { bigint: true });
  t.equal(s.uid, 65534n, 'uid -1 leaves the owner');
  t.equal(s.gid, 0n, 'gid changed alone');
  await chown(A('co'), 1234, -1);
  t.equal((await stat(A('co'))).gid, 0, 'gid -1 leaves the group');
  await chmod(A('co'), 0o6755);
  await chown(A('co'), 0, 0);
  t.equal((await stat(A('co'))).mode & 0o7777, 0o755, 'chown clears setuid and setgid');
  await rejectsCode(t, chown(A('missing'), 0, 0), 'ENOENT', 'chown of a missing file');
  sysIs(t, await asNobody(['chown', A('rootfile'), 65534, 65534]), 'EPERM', 'nobody: chown of root\'s file');
  sysIs(t, await asNobody(['create', A('pub', 'own2'), 0o644]), null, 'nobody: a file of its own');
  sysIs(t, await asNobody(['chown', A('pub', 'own2'), 0, -1]), 'EPERM', 'nobody: give its file away');
  sysIs(t, await asNobody(['chown', A('pub', 'own2'), -1, 0]), 'EPERM', 'nobody: chgrp to a group it is not in');
  sysIs(t, await asNobody(['chown', A('pub', 'own2'), -1, 65534]), null, 'nobody: chgrp to its own group');
});

t.test('utimens', { timeout: 60_000 }, async (t) => {
  await writeFile(A('ut'), 'x');
  const c0 = (await times(A('ut'))).ctime;
  await sleep(5);
  await utimes(A('ut'), 1_500_000_000.25, 1_600_000_000.5);
  let s = await times(A('ut'));
  t.equal(s.atime, 1_500_000_000_250_000_000n, 'atime set');
  t.equal(s.mtime, 1_600_000_000_500_000_000n, 'mtime set');
  t.ok(s.ctime > c0, 'utimens sets ctime');

  const touch = async (...args: string[]): Promise<void> => {
    const r = await run('touch', [...args, A('ut')]);
    t.equal(r.code, 0, `touch ${args.join(' ')}: ${r.stderr}`);
  };
  await touch('-a', '-d', '@1000000000.125');
  s = await times(A('ut'));
  t.equal(s.atime, 1_000_000_000_125_000_000n, 'touch -a sets atime');
  t.equal(s.mtime, 1_600_000_000_500_000_000n, 'and leaves mtime (UTIME_OMIT)');
  await touch('-m', '-d', '@1100000000');
  s = await times(A('ut'));
  t.equal(s.atime, 1_000_000_000_125_000_000n, 'touch -m leaves atime (UTIME_OMIT)');
  t.equal(s.mtime, 1_100_000_000_000_000_000n, 'and sets mtime');
  await touch();
  s = await times(A('ut'));
  t.ok(recentNs(s.atime) && recentNs(s.mtime), 'touch with no time sets both to now (UTIME_NOW)');
  await utimes(A('ut'), -1, 0);
  s = await times(A('ut'));
  t.equal(s.mtime, 0n, 'the epoch itself');

  // Times set while data is still in the write cache are the ones that stay (cp -a, rsync, tar).
  const fh = await open(A('ut2'), 'w');
  await fh.write('pending data');
  await fh.utimes(OLD_S, OLD_S);
  await fh.close();
  await sleep(50);
  s = await times(A('ut2'));
  t.equal(s.mtime, OLD_NS, 'futimens before close outlives the flush at close');
  t.equal(s.size, 12n, 'with the data');

  await rejectsCode(t, utimes(A('missing'), 1, 1), 'ENOENT', 'utimens of a missing file');
  sysIs(t, await asNobody(['utime', A('rootfile'), [1, 1]]), 'EPERM', 'nobody: set explicit times on root\'s file');
  sysIs(t, await asNobody(['utime', A('rootfile'), null]), 'EACCES', 'nobody: set now on root\'s 0644 file');
  await writeFile(A('pub', 'open-to-all'), 'x');
  await chmod(A('pub', 'open-to-all'), 0o666);
  sysIs(t, await asNobody(['utime', A('pub', 'open-to-all'), null]), null, 'nobody: set now on a file it may write');
  sysIs(t, await asNobody(['utime', A('pub', 'open-to-all'), [1, 1]]), 'EPERM', 'but not explicit times');
});

const ACL_HEX = // version 2; USER_OBJ rw-, GROUP_OBJ r--, OTHER r--
  '02000000' + '0100' + '0600' + 'ffffffff' + '0400' + '0400' + 'ffffffff' + '2000' + '0400' + 'ffffffff';

t.test('chmod, chown and times of a file with unflushed data (as tar sets them before the close)', { timeout: 60_000 }, async (t) => {
  const fh = await open(A('held'), 'w', 0o600);
  await fh.write('held data\n'.repeat(100));
  await fh.utimes(OLD_S, OLD_S);
  await fh.chown(1234, 4321);
  await fh.chmod(0o640);
  const open1 = await fh.stat({ bigint: true });
  t.same([Number(open1.mode & 0o7777n), Number(open1.uid), Number(open1.gid), open1.mtimeNs, Number(open1.size)], [0o640, 1234, 4321, OLD_NS, 1000], 'fstat shows them while the data is unflushed');
  await fh.close();
  await sleep(1100); // past the attribute timeout: the next stat asks the server
  const after = await stat(A('held'), { bigint: true });
  t.same([Number(after.mode & 0o7777n), Number(after.uid), Number(after.gid), after.mtimeNs, Number(after.size)], [0o640, 1234, 4321, OLD_NS, 1000], 'and they stay after the close: the mtime set, not the flush time');

  const fh2 = await open(A('held2'), 'w');
  await fh2.write('first\n');
  await fh2.utimes(OLD_S, OLD_S);
  await fh2.write('second\n');
  await fh2.close();
  await sleep(1100);
  const t2 = await times(A('held2'));
  t.ok(recentNs(t2.mtime), 'a write after the times sets the write time again');
  t.equal(t2.atime, OLD_NS, 'the atime set stays');
  t.equal(t2.size, 13n);
});

t.test('extended attributes', { timeout: 60_000 }, async (t) => {
  await writeFile(A('xa'), 'content');
  const f = A('xa');
  const c0 = (await times(f)).ctime;
  await sleep(5);
  let r = await sys([
    ['setxattr', f, 'user.color', 'blue'],
    ['getxattr', f, 'user.color'],
    ['setxattr', f, 'user.color', 'red', 'replace'],
    ['getxattr', f, 'user.color'],
    ['setxattr', f, 'user.color', 'green', 'create'],
    ['setxattr', f, 'user.shape', 'round', 'replace'],
    ['setxattr', f, 'user.shape', 'round', 'create'],
    ['getxattr', f, 'user.missing'],
    ['listxattr', f],
    ['removexattr', f, 'user.shape'],
    ['removexattr', f, 'user.shape'],
    ['getxattr', f, 'user.shape'],
    ['setxattr', f, 'user.empty', ''],
    ['getxattr', f, 'user.empty'],
    ['setxattr', f, 'user.big', 'v'.repeat(8000)],
    ['getxattr', f, 'user.big'],
    ['setxattr', f, `user.${'x'.repeat(251)}`, '1'],
    ['getxattr', A('missing'), 'user.color'],
    ['setxattr', A('missing'), 'user.color', '1'],
  ]);
  sysIs(t, r[0]!, null, 'setxattr');
  t.equal(r[1]!.ok, 'blue', 'getxattr');
  sysIs(t, r[2]!, null, 'XATTR_REPLACE of an existing attribute');
  t.equal(r[3]!.ok, 'red', 'replaced value');
  sysIs(t, r[4]!, 'EEXIST', 'XATTR_CREATE of an existing attribute');
  sysIs(t, r[5]!, 'ENODATA', 'XATTR_REPLACE of a missing attribute');
  sysIs(t, r[6]!, null, 'XATTR_CREATE of a new attribute');
  sysIs(t, r[7]!, 'ENODATA', 'getxattr of a missing attribute');
  const names = r[8]!.ok as string[];
  t.ok(names.includes('user.color') && names.includes('user.shape'), 'listxattr lists the stored attributes');
  t.ok(names.includes('user.realize.id') && names.includes('user.realize.hash') && names.includes('user.realize.version'), 'and the computed user.realize.* ones');
  sysIs(t, r[9]!, null, 'removexattr');
  sysIs(t, r[10]!, 'ENODATA', 'removexattr of a missing attribute');
  sysIs(t, r[11]!, 'ENODATA', 'gone after removexattr');
  sysIs(t, r[12]!, null, 'an empty value');
  t.equal(r[13]!.ok, '', 'reads back empty');
  sysIs(t, r[14]!, null, 'an 8000-byte value');
  t.equal((r[15]!.ok as string).length, 8000, 'reads back whole');
  sysIs(t, r[16]!, 'ERANGE', 'a name longer than 255 bytes');
  sysIs(t, r[17]!, 'ENOENT', 'getxattr of a missing file');
  sysIs(t, r[18]!, 'ENOENT', 'setxattr of a missing file');
  t.ok((await times(f)).ctime > c0, 'setxattr sets ctime');

  // The computed attributes.
  r = await sys([
    ['getxattr', f, 'user.realize.id'],
    ['getxattr', f, 'user.realize.hash'],
    ['getxattr', f, 'user.realize.version'],
    ['getxattr', f, 'user.realize.placement'],
    ['setxattr', f, 'user.realize.hash', 'forged'],
    ['removexattr', f, 'user.realize.id'],
    ['getxattr', f, 'user.realize.nonsense'],
  ]);
  t.match(r[0]!.ok, /^[0-9a-f]{32}$/, 'user.realize.id is the node id');
  t.match(r[1]!.ok, /^[0-9a-f]{64}$/, 'user.realize.hash is a content hash');
  t.match(r[2]!.ok, /^\d+(\+\d+)?$/, 'user.realize.version counts versions');
  t.equal(r[3]!.ok, 'real', 'user.realize.placement');
  sysIs(t, r[4]!, 'EPERM', 'a computed attribute cannot be set');
  sysIs(t, r[5]!, 'EPERM', 'nor removed');
  sysIs(t, r[6]!, 'ENODATA', 'an unknown user.realize.* name');
  await writeFile(f, 'other content');
  const after = await sys1(['getxattr', f, 'user.realize.hash']);
  t.not(after.ok, r[1]!.ok, 'the hash follows the content');
  await writeFile(A('xa2'), 'other content');
  t.equal((await sys1(['getxattr', A('xa2'), 'user.realize.hash'])).ok, after.ok, 'the same content has the same hash');

  // Directories and symlinks.
  await mkdir(A('xdir'));
  sysIs(t, await sys1(['setxattr', A('xdir'), 'user.d', '1']), null, 'setxattr on a directory');
  t.equal((await sys1(['getxattr', A('xdir'), 'user.d'])).ok, '1', 'getxattr on a directory');
  await symlink('xa', A('xlink'));
  t.equal((await sys1(['getxattr', A('xlink'), 'user.color'])).ok, 'red', 'getxattr follows a symlink');

  // POSIX ACLs are not supported (mode bits are what the kernel enforces).
  // (python names errno 95 ENOTSUP; on Linux it is EOPNOTSUPP too)
  sysIs(t, await sys1(['setxattr_hex', f, 'system.posix_acl_access', ACL_HEX]), 'ENOTSUP', 'setting a POSIX ACL (EOPNOTSUPP)');
  sysIs(t, await sys1(['getxattr', f, 'system.posix_acl_access']), 'ENODATA', 'no ACL to read');

  // Permissions.
  sysIs(t, await asNobody(['getxattr', A('rootfile'), 'user.realize.placement']), null, 'nobody: getxattr of a readable file');
  sysIs(t, await asNobody(['setxattr', A('rootfile'), 'user.x', '1']), 'EACCES', 'nobody: setxattr of root\'s 0644 file');
  sysIs(t, await asNobody(['removexattr', A('xa'), 'user.color']), 'EACCES', 'nobody: removexattr of root\'s file');
  await chmod(A('xa'), 0o600);
  sysIs(t, await asNobody(['getxattr', A('xa'), 'user.color']), 'EACCES', 'nobody: getxattr of root\'s 0600 file');
  sysIs(t, await asNobody(['setxattr', A('rootfile'), 'trusted.x', '1']), 'EPERM', 'nobody: a trusted.* attribute');
});
