/**
 * famfs devices and data: the superblock round-trips and is checked; a famfs file's bytes
 * go straight into the device at its extents and are read back from there; its content hash
 * is the one the same bytes get in the block store; truncate and unlink free space; fsck
 * finds extents outside a device and overlaps; the CLI's mkfs/add/cp/fsck work together.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { decodeSuperblock, encodeSuperblock, famfsEngine, famfsFsck, FamfsIo, mkfs, replayShadow, verifyShadow, WriteCache } from '../../engine/index.js';
import { FAMFS_UNIT } from '../../projections/index.js';
import { makeCli } from '../../tools/cli-context.js';
import { main } from '../../tools/main.js';
import { fixedEnv, makeDevice, openStore, OWNER, putFile, tempDir, seededBytes } from '../shadow/helpers.js';

t.test('superblock: round trip, bad magic, bad checksum, existing one kept without --force', async (t) => {
  const sb = { uuid: '123e4567e89b12d3a456426614174000', size: 64 * FAMFS_UNIT, unit: FAMFS_UNIT, created: 1_700_000_000_000 };
  const b = encodeSuperblock(sb);
  t.same(decodeSuperblock(b), sb);
  const bad = Buffer.from(b);
  bad[30] ^= 1;
  t.match(decodeSuperblock(bad), /checksum/);
  t.match(decodeSuperblock(Buffer.alloc(4096)), /magic/);
  const dir = await tempDir(t);
  const dev = join(dir, 'dev');
  const made = await mkfs(dev, { size: 8 * FAMFS_UNIT, randomBytes: seededBytes(1), now: () => 5 });
  t.equal(made.size, 8 * FAMFS_UNIT);
  await t.rejects(mkfs(dev, { randomBytes: seededBytes(2), now: () => 5 }), /already holds a famfs superblock/);
  const again = await mkfs(dev, { force: true, randomBytes: seededBytes(2), now: () => 5 });
  t.not(again.uuid, made.uuid);
  await t.rejects(mkfs(join(dir, 'missing'), { randomBytes: seededBytes(2), now: () => 5 }), /--size/);
});

t.test('a famfs file: bytes on the device at its extents, read back from it, freed on truncate and unlink', async (t) => {
  const env = fixedEnv(11);
  const { engine, base } = await openStore(t, env);
  await engine.run({ type: 'mkdir', path: '/fam', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/plain', mode: 0o755, owner: OWNER });
  const dev = await makeDevice(engine, env, base, 'fam', 32 * FAMFS_UNIT);
  const io = new FamfsIo(engine);
  t.teardown(() => io.close());
  const data = Buffer.alloc(5 * 1024 * 1024 + 17);
  for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
  await engine.run({ type: 'create', path: '/fam/f', mode: 0o644, owner: OWNER });
  const id = engine.stat('/fam/f').id;
  t.ok(io.isFamfs(id), 'an empty file of a famfs area is a famfs file');
  await io.write(id, 0, data.subarray(0, 1000));
  await io.write(id, 1000, data.subarray(1000));
  await engine.commit(id);
  const extents = engine.projections.famfs.extents(id)!;
  t.same(extents, [{ device: dev.uuid, offset: FAMFS_UNIT, length: 3 * FAMFS_UNIT }], 'one coalesced extent of whole units');
  // The bytes are in the device file, at the extent.
  const fh = await open(dev.path, 'r');
  const onDevice = Buffer.alloc(data.length);
  await fh.read(onDevice, 0, data.length, FAMFS_UNIT);
  await fh.close();
  t.ok(onDevice.equals(data), 'the device holds the bytes at the extent');
  t.ok((await io.read(id, 0, data.length)).equals(data), 'read back from the device');
  t.ok((await io.read(id, 4_000_000, 10)).equals(data.subarray(4_000_000, 4_000_010)), 'a range');
  // The same bytes in the block store get the same content hash.
  const plainId = await putFile(engine, '/plain/f', data);
  t.same(engine.contentState(id)!.hash, engine.contentState(plainId)!.hash, 'content hash as for any file');
  // A write past the end leaves zeros in the gap, even where the device held old bytes.
  await io.truncate(id, 100);
  t.same(engine.projections.famfs.extents(id), [{ device: dev.uuid, offset: FAMFS_UNIT, length: FAMFS_UNIT }], 'truncate frees whole units past the end');
  await io.write(id, 3 * FAMFS_UNIT, Buffer.from('end'));
  const back = await io.read(id, 0, 3 * FAMFS_UNIT + 3);
  t.ok(back.subarray(0, 100).equals(data.subarray(0, 100)), 'the head kept');
  t.ok(back.subarray(100, 3 * FAMFS_UNIT).equals(Buffer.alloc(3 * FAMFS_UNIT - 100)), 'the gap reads as zeros');
  t.equal(back.subarray(3 * FAMFS_UNIT).toString(), 'end');
  // The mount's view: the write cache writes to the device; unlinking the last link frees.
  const view = famfsEngine(engine, io);
  const cache = new WriteCache(view);
  await view.run({ type: 'create', path: '/fam/g', mode: 0o644, owner: OWNER });
  const g = view.stat('/fam/g').id;
  await cache.write(g, 0, Buffer.from('through the write cache'));
  await cache.flush(g, { durable: true });
  t.ok(engine.projections.famfs.extents(g), 'the write cache allocated on the device');
  t.equal((await view.read(g, 0, 100)).toString(), 'through the write cache');
  t.equal(engine.blocks.has(engine.projections.content.row(g)!.blocks.subarray(0, 32)), false, 'nothing went to the block store');
  const plain2 = (await view.run({ type: 'create', path: '/plain/h', mode: 0o644, owner: OWNER }), view.stat('/plain/h').id);
  await cache.write(plain2, 0, Buffer.from('plain'));
  await cache.flush(plain2, { durable: true });
  t.equal((await engine.read(plain2, 0, 10)).toString(), 'plain', 'other files still go to the block store');
  await view.run({ type: 'unlink', path: '/fam/g' });
  t.equal(engine.projections.famfs.extents(g), undefined, 'unlinking the last link freed the extents');
  const fsck = await famfsFsck(engine);
  t.ok(fsck.ok, JSON.stringify(fsck.problems));
  t.equal(fsck.files, 1);
  // Replays: --into writes the famfs bytes; --shadow the extents.
  const out = await tempDir(t, 'out');
  await replayShadow(engine, join(out, 'into'), { mode: 'into' });
  t.ok((await readFile(join(out, 'into/fam/f'))).equals(await io.read(id, 0, 1e9)));
  t.ok((await verifyShadow(engine, join(out, 'into'), { mode: 'into' })).ok);
  await replayShadow(engine, join(out, 'sh'), { mode: 'shadow' });
  t.match(await readFile(join(out, 'sh/fam/f'), 'utf8'), /extents:\n {4}- device_uuid: '[0-9a-f-]{36}'\n {6}offset: \d+\n {6}length: \d+\n/);
});

t.test('fsck finds an extent outside its device and overlapping extents', async (t) => {
  const env = fixedEnv(12);
  const { engine, base } = await openStore(t, env);
  await engine.run({ type: 'mkdir', path: '/fam', mode: 0o755, owner: OWNER });
  const dev = await makeDevice(engine, env, base, 'fam', 8 * FAMFS_UNIT);
  const a = await putFile(engine, '/fam/a', '');
  await engine.appendEvents('fam', [{ type: 'famfs-alloc', id: a, extents: [{ device: dev.uuid, offset: FAMFS_UNIT, length: FAMFS_UNIT }], time: 1 }]);
  t.ok((await famfsFsck(engine)).ok);
  // Craft rows the allocator would never make (the projection refuses such events): a second
  // file on the same space, and a free range past the end.
  const files = engine.projections.env.openDB<unknown, string>({ name: 'famfs-files' });
  const free = engine.projections.env.openDB<number, string>({ name: 'famfs-free' });
  await files.put('f'.repeat(32), [{ device: dev.uuid, offset: FAMFS_UNIT, length: FAMFS_UNIT }]);
  await free.put(`${dev.uuid}/${(20 * FAMFS_UNIT).toString(16).padStart(16, '0')}`, FAMFS_UNIT);
  const r = await famfsFsck(engine);
  t.notOk(r.ok);
  t.ok(r.problems.some((p) => /overlap/.test(p.what)), 'the overlap');
  t.ok(r.problems.some((p) => /outside device/.test(p.what)), 'the extent outside');
});

t.test('CLI: famfs mkfs, add, cp, fsck', async (t) => {
  const env = fixedEnv(13);
  const { engine, root, base } = await openStore(t, env);
  await engine.run({ type: 'mkdir', path: '/fam', mode: 0o755, owner: OWNER });
  await engine.close();
  const run = async (...args: string[]): Promise<{ code: number; out: string }> => {
    let out = '';
    const w = { write: (s: string) => ((out += s), true), isTTY: false } as unknown as NodeJS.WritableStream;
    const code = await main(['--store', root, '--json', ...args], makeCli({ env, stdout: w, stderr: w }));
    return { code, out };
  };
  const dev = join(base, 'dev');
  let r = await run('famfs', 'mkfs', dev, '--size', '16m');
  t.equal(r.code, 0, r.out);
  t.match(JSON.parse(r.out), { size: 16 * 1024 * 1024, uuid: /^[0-9a-f-]{36}$/ });
  r = await run('famfs', 'add', 'fam', dev);
  t.equal(r.code, 0, r.out);
  const src = join(base, 'src');
  await writeFile(src, Buffer.alloc(3 * 1024 * 1024, 9));
  r = await run('famfs', 'cp', src, '/fam/copy');
  t.equal(r.code, 0, r.out);
  t.same(JSON.parse(r.out).extents.length, 1);
  r = await run('famfs', 'fsck');
  t.equal(r.code, 0, r.out);
  t.match(JSON.parse(r.out.trim().split('\n').at(-1)!), { ok: true, files: 1, devices: 1 });
});
