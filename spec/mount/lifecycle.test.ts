// The life of a mount: SIGTERM/SIGINT flush and unmount cleanly (data written without fsync
// survives), `realize umount` from another process ends the server, a stale mount left by a
// killed server is detected and cleared at the next start with a clear message, a live mount
// is not taken over, and --read-only refuses every write with EROFS.
import t from 'tap';
import { existsSync } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rename, rmdir, symlink, truncate, unlink, utimes, writeFile, link } from 'node:fs/promises';
import { join } from 'node:path';
import { MountServer, REALIZE, mountLine, scratch } from './helpers/server.js';
import { sys1 } from './helpers/sysops.js';
import { rejectsCode, sysIs } from './helpers/expect.js';
import { run } from './helpers/proc.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const s = await scratch('lifecycle');
let server: MountServer | null = null;
t.teardown(async () => {
  await server?.stop();
  await s.remove();
});
const H = (...p: string[]): string => join(s.mnt, 'home', ...p);

t.test('SIGTERM flushes what was written without fsync, and unmounts', { timeout: 90_000 }, async (t) => {
  server = await MountServer.start(s.store, s.mnt);
  await mkdir(join(s.mnt, 'home'));
  await writeFile(H('closed'), 'written and closed, no fsync\n');
  const fh = await open(H('still-open'), 'w');
  await fh.write('written, still open, no fsync\n');
  const big = Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a);
  await writeFile(H('big'), big);
  server.child.kill('SIGTERM');
  const exit = await server.waitExit(30_000);
  await fh.close().catch(() => undefined); // the mount is gone under it
  t.same(exit, { code: 0, signal: null }, 'the server exits 0');
  t.ok(server.events.some((e) => e['event'] === 'unmounted'), 'it reports {"event":"unmounted"}');
  t.notOk(await mountLine(s.mnt), 'nothing is left mounted');

  server = await MountServer.start(s.store, s.mnt);
  t.equal(await readFile(H('closed'), 'utf8'), 'written and closed, no fsync\n', 'a closed file is there after the restart');
  t.equal(await readFile(H('still-open'), 'utf8'), 'written, still open, no fsync\n', 'so is a file that was still open');
  t.ok((await readFile(H('big'))).equals(big), 'and a 3 MiB file');
  t.notMatch(server.stderr, /stale/, 'a clean stop leaves no stale mount');
});

t.test('SIGINT does the same', { timeout: 60_000 }, async (t) => {
  await writeFile(H('sigint'), 'before SIGINT');
  server!.child.kill('SIGINT');
  t.same(await server!.waitExit(30_000), { code: 0, signal: null }, 'the server exits 0');
  t.notOk(await mountLine(s.mnt), 'nothing is left mounted');
  server = await MountServer.start(s.store, s.mnt);
  t.equal(await readFile(H('sigint'), 'utf8'), 'before SIGINT', 'the data is there after the restart');
});

t.test('`realize umount` from another process ends the server', { timeout: 60_000 }, async (t) => {
  await writeFile(H('before-umount'), 'x');
  const r = await run(process.execPath, [REALIZE, 'umount', s.mnt], { timeoutMs: 30_000 });
  t.equal(r.code, 0, `realize umount exits 0: ${r.stderr}`);
  const exit = await server!.waitExit(20_000);
  t.same(exit, { code: 0, signal: null }, 'the server notices, flushes and exits 0');
  t.match(server!.stderr, /was unmounted/, 'and says why');
  t.notOk(await mountLine(s.mnt), 'nothing is left mounted');
  const again = await run(process.execPath, [REALIZE, 'umount', s.mnt], { timeoutMs: 30_000 });
  t.not(again.code, 0, 'a second umount fails');
  t.match(again.stderr, /not mounted/, 'saying it is not mounted');
  server = await MountServer.start(s.store, s.mnt);
  t.equal(await readFile(H('before-umount'), 'utf8'), 'x', 'the data is there after the restart');
});

t.test('a stale mount left by a killed server is cleared at the next start', { timeout: 60_000 }, async (t) => {
  await server!.kill({ leaveMount: true });
  t.ok(await mountLine(s.mnt), 'the dead mount is still in the mount table');
  await rejectsCode(t, readdir(s.mnt), 'ENOTCONN', 'and answers ENOTCONN');
  server = await MountServer.start(s.store, s.mnt);
  t.match(server.stderr, /held a stale mount \(its server is gone\); clearing it/, 'the start says it cleared a stale mount');
  t.ok((await readdir(s.mnt)).includes('home'), 'and serves the store');
  const lines = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.split(' ')[4] === s.mnt);
  t.equal(lines.length, 1, 'exactly one mount at the mountpoint');
});

t.test('a live mount is not taken over', { timeout: 60_000 }, async (t) => {
  const r = await run(process.execPath, [REALIZE, '--store', s.store, 'mount', s.mnt], { timeoutMs: 30_000 });
  t.equal(r.code, 3, 'a second server of the same store fails (exit 3)');
  t.match(r.stderr, /in use by process \d+/, `with a clear message: ${r.stderr.trim()}`);
  const other = join(s.dir, 'other-store');
  const r2 = await run(process.execPath, [REALIZE, '--store', other, 'mount', s.mnt], { timeoutMs: 30_000 });
  t.equal(r2.code, 3, 'a server of another store at the same mountpoint fails (exit 3)');
  t.match(r2.stderr, /already mounted and served by another process/, `with a clear message: ${r2.stderr.trim()}`);
  t.ok(server!.running, 'the first server goes on');
  t.ok((await readdir(s.mnt)).includes('home'), 'and its mount still works');
});

t.test('--read-only refuses writes with EROFS', { timeout: 60_000 }, async (t) => {
  await writeFile(H('ro-file'), 'read me');
  await mkdir(H('ro-dir'));
  await server!.stop();
  server = await MountServer.start(s.store, s.mnt, { readOnly: true });
  t.match((await mountLine(s.mnt)) ?? '', /\bro\b/, 'mounted ro');
  t.equal(await readFile(H('ro-file'), 'utf8'), 'read me', 'reads work');
  t.ok((await readdir(H())).includes('ro-dir'), 'readdir works');
  await rejectsCode(t, writeFile(H('new'), 'x'), 'EROFS', 'create');
  await rejectsCode(t, open(H('ro-file'), 'r+'), 'EROFS', 'open for writing');
  await rejectsCode(t, open(H('ro-file'), 'a'), 'EROFS', 'open for appending');
  await rejectsCode(t, truncate(H('ro-file'), 0), 'EROFS', 'truncate');
  await rejectsCode(t, mkdir(H('d2')), 'EROFS', 'mkdir');
  await rejectsCode(t, rmdir(H('ro-dir')), 'EROFS', 'rmdir');
  await rejectsCode(t, unlink(H('ro-file')), 'EROFS', 'unlink');
  await rejectsCode(t, rename(H('ro-file'), H('moved')), 'EROFS', 'rename');
  await rejectsCode(t, link(H('ro-file'), H('l')), 'EROFS', 'link');
  await rejectsCode(t, symlink('x', H('s')), 'EROFS', 'symlink');
  await rejectsCode(t, chmod(H('ro-file'), 0o600), 'EROFS', 'chmod');
  await rejectsCode(t, utimes(H('ro-file'), 1, 1), 'EROFS', 'utimens');
  sysIs(t, await sys1(['chown', H('ro-file'), 1, 1]), 'EROFS', 'chown');
  sysIs(t, await sys1(['setxattr', H('ro-file'), 'user.x', '1']), 'EROFS', 'setxattr');
  sysIs(t, await sys1(['removexattr', H('ro-file'), 'user.x']), 'EROFS', 'removexattr');
  t.equal(await readFile(H('ro-file'), 'utf8'), 'read me', 'nothing changed');
  await server!.stop();
  server = await MountServer.start(s.store, s.mnt);
  t.same((await readdir(H())).filter((n) => ['new', 'd2', 'moved', 'l', 's'].includes(n)), [], 'nothing was written to the store');
});
