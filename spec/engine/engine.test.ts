/**
 * The engine over a real store: reads see writes at once, content is cut into blocks at
 * fixed offsets, truncates and holes read as zeros, hard links share content, an unlinked
 * file stays readable by id, everything survives close and open, projections that got ahead
 * of the log (a crash between apply and fsync) are rebuilt from the log, and a burst of
 * commands shares few group writes and fsyncs.
 */
import { cp, open, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { BLOCK_SIZE, ZERO_BLOCK, type Entry, type Feed, type FsEvent } from '../../log/index.js';
import { splitBlocks } from '../../projections/index.js';
import { EngineError, replayCheck, type Engine } from '../../engine/index.js';
import { content, OWNER, openStore, type TestStore } from './helpers/env.js';

async function withHome(t: Test): Promise<TestStore> {
  const s = await openStore(t);
  await s.engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  return s;
}

async function file(engine: Engine, path: string, data?: Uint8Array): Promise<string> {
  await engine.run({ type: 'create', path, mode: 0o644, owner: OWNER });
  const { id } = engine.stat(path);
  if (data !== undefined && data.byteLength > 0) await engine.write(id, 0, data);
  return id;
}

function homeFeed(engine: Engine): Feed {
  return engine.store.feeds.get(`${engine.store.publicKey}.home`)!;
}

async function lastEvents(engine: Engine): Promise<FsEvent[]> {
  const feed = homeFeed(engine);
  return (await feed.get(feed.length - 1)).events as unknown as FsEvent[];
}

async function readAll(engine: Engine, id: string): Promise<Buffer> {
  const info = engine.info(id)!;
  return engine.read(id, 0, info.size + 1);
}

t.test('reads see a command at once, before it is durable', async (t) => {
  const { engine } = await withHome(t);
  const feed = homeFeed(engine);
  const before = feed.length;
  const { entry, durable } = await engine.submit({ type: 'create', path: '/home/f', mode: 0o640, owner: OWNER });
  t.ok(entry, 'an entry was staged');
  t.equal(feed.pending, 1, 'not yet written: the entry waits for the group write');
  t.equal(feed.length, before, 'the log does not hold it yet');
  const info = engine.stat('/home/f');
  t.equal(info.kind, 'file', 'stat sees the new file');
  t.equal(info.mode, 0o640);
  t.same(engine.readdir('/home').map((e) => e.name), ['f'], 'readdir sees it');
  await durable;
  t.equal(feed.length, before + 1, 'durable: in the log');
  t.equal(feed.head?.seq, entry!.seq);
});

t.test('decideNow decides without applying; stageDecided applies decided events as one held entry; beforeChange runs first', async (t) => {
  const { engine } = await withHome(t);
  await file(engine, '/home/a');
  await file(engine, '/home/b');
  const feed = homeFeed(engine);
  const before = feed.length + feed.pending;
  const a = engine.decideNow({ type: 'unlink', path: '/home/a' })!;
  const b = engine.decideNow({ type: 'unlink', path: '/home/b' })!;
  t.same([a.area, a.events[0]!.type], ['home', 'unlink']);
  t.ok(engine.lookup('/home/a'), 'decided, not applied');
  t.throws(() => engine.decideNow({ type: 'unlink', path: '/home/none' }), { code: 'NOT_FOUND' }, 'a refusal throws as submit would');
  const staged = engine.stageDecided('home', [...a.events, ...b.events]);
  t.ok(staged, 'staged now');
  t.equal(engine.lookup('/home/a'), undefined, 'applied on return');
  t.equal(engine.lookup('/home/b'), undefined);
  t.equal(feed.length + feed.pending, before + 1, 'one entry');
  if (staged) await staged.durable;
  t.same(((await lastEvents(engine)) as FsEvent[]).map((e) => e.type), ['unlink', 'unlink']);
  t.equal(engine.stageDecided('nowhere', a.events), false, 'no own feed of that area: not staged');
  const calls: string[] = [];
  engine.beforeChange.add(() => calls.push('held'));
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  await engine.flush();
  t.same(calls, ['held', 'held'], 'a command and a flush run beforeChange first');
});

t.test('reads see written bytes at once: blocks staged, the write event applied, not yet durable', async (t) => {
  const { engine } = await withHome(t);
  const id = await file(engine, '/home/f');
  const data = content('at-once', 5000);
  const hash = await engine.blocks.put(data);
  const { durable } = await engine.submit({ type: 'write', id, size: data.byteLength, blocks: [[0, hash]] });
  t.equal(homeFeed(engine).pending, 1, 'not durable yet');
  t.ok((await engine.read(id, 0, 10_000)).equals(data), 'the bytes read back at once');
  t.equal(engine.info(id)!.size, 5000, 'stat sees the new size');
  t.equal(engine.info(id)!.pending, 1, 'one pending change, not yet committed');
  await durable;
  const viaApi = content('api', 777);
  await engine.write(id, 5000, viaApi);
  t.ok((await engine.read(id, 5000, 777)).equals(viaApi), 'Engine.write: read back as soon as it resolves');
});

t.test('writes across block boundaries touch only the blocks they cover', async (t) => {
  const { engine } = await withHome(t);
  const id = await file(engine, '/home/f');

  const edge = content('edge', 10);
  await engine.write(id, BLOCK_SIZE - 5, edge);
  t.equal(engine.info(id)!.size, BLOCK_SIZE + 5);
  const whole = await readAll(engine, id);
  t.ok(whole.subarray(0, BLOCK_SIZE - 5).equals(Buffer.alloc(BLOCK_SIZE - 5)), 'zeros before');
  t.ok(whole.subarray(BLOCK_SIZE - 5).equals(edge), 'the 10 bytes straddle the boundary');
  const ev = (await lastEvents(engine))[0]!;
  t.equal(ev.type, 'write');
  t.same(ev.type === 'write' ? ev.blocks.map(([i]) => i) : [], [0, 1], 'the write event names blocks 0 and 1');

  const big = content('big', 2 * BLOCK_SIZE + 1234);
  await engine.write(id, 1000, big);
  t.equal(engine.info(id)!.size, 1000 + big.byteLength);
  const after = await readAll(engine, id);
  t.ok(after.subarray(1000).equals(big), '2.x blocks at an unaligned offset read back');
  t.ok(after.subarray(0, 1000).equals(Buffer.alloc(1000)), 'the bytes before it are untouched');

  const small = content('small', 100);
  await engine.write(id, 2 * BLOCK_SIZE + 10, small);
  const ev2 = (await lastEvents(engine))[0]!;
  t.same(ev2.type === 'write' ? ev2.blocks.map(([i]) => i) : [], [2], 'a small write inside block 2 names only block 2');
  const final = await readAll(engine, id);
  const expected = Buffer.from(after);
  small.copy(expected, 2 * BLOCK_SIZE + 10);
  t.ok(final.equals(expected), 'the rest of block 2 kept its bytes');
  t.equal((await engine.read(id, final.length + 5, 10)).length, 0, 'a read past the end is empty');
  t.equal((await engine.read(id, final.length - 3, 10)).length, 3, 'a read at the end is short');
});

t.test('truncate down then up reads zeros, never the old bytes', async (t) => {
  const { engine } = await withHome(t);
  const data = content('t', 3000);
  const id = await file(engine, '/home/f', data);
  await engine.truncate(id, 1000);
  t.equal(engine.info(id)!.size, 1000);
  await engine.truncate(id, 5000);
  const got = await readAll(engine, id);
  t.equal(got.length, 5000);
  t.ok(got.subarray(0, 1000).equals(data.subarray(0, 1000)), 'the kept bytes');
  t.ok(got.subarray(1000).equals(Buffer.alloc(4000)), 'zeros where the cut bytes were');

  // The same across blocks: cut inside block 1 of a 2.5-block file, then grow past block 2.
  const big = content('big', 2 * BLOCK_SIZE + BLOCK_SIZE / 2);
  const id2 = await file(engine, '/home/g', big);
  await engine.truncate(id2, BLOCK_SIZE + 7);
  await engine.truncate(id2, 3 * BLOCK_SIZE);
  const got2 = await readAll(engine, id2);
  t.ok(got2.subarray(0, BLOCK_SIZE + 7).equals(big.subarray(0, BLOCK_SIZE + 7)), 'kept bytes across the boundary');
  t.ok(got2.subarray(BLOCK_SIZE + 7).equals(Buffer.alloc(2 * BLOCK_SIZE - 7)), 'zeros after the cut, in every block');

  // A cut exactly at a block boundary, then a write past the end of the cut file.
  await engine.truncate(id2, BLOCK_SIZE);
  await engine.write(id2, BLOCK_SIZE + 100, Buffer.from('x'));
  const got3 = await readAll(engine, id2);
  t.equal(got3.length, BLOCK_SIZE + 101);
  t.ok(got3.subarray(BLOCK_SIZE, BLOCK_SIZE + 100).equals(Buffer.alloc(100)), 'the gap is zeros');

  // Write into the gap left by a cut inside a block: the rest of that block stays zero.
  await engine.truncate(id, 10);
  await engine.write(id, 20, Buffer.from('yy'));
  const got4 = await readAll(engine, id);
  t.ok(got4.equals(Buffer.concat([data.subarray(0, 10), Buffer.alloc(10), Buffer.from('yy')])), 'cut, gap, new bytes');
});

t.test('sparse writes: holes are zero blocks, stored as nothing', async (t) => {
  const { engine } = await withHome(t);
  const id = await file(engine, '/home/sparse');
  const tail = Buffer.from('the end');
  await engine.write(id, 3 * BLOCK_SIZE + 7, tail);
  const info = engine.info(id)!;
  t.equal(info.size, 3 * BLOCK_SIZE + 7 + tail.length);
  const got = await readAll(engine, id);
  t.ok(got.subarray(0, 3 * BLOCK_SIZE + 7).equals(Buffer.alloc(3 * BLOCK_SIZE + 7)), 'the hole reads as zeros');
  t.ok(got.subarray(3 * BLOCK_SIZE + 7).equals(tail));
  const row = engine.projections.content.row(id)!;
  const blocks = [...splitBlocks(row.blocks)];
  t.equal(blocks.length, 4);
  t.same(blocks.slice(0, 3).map((b) => Buffer.compare(b, ZERO_BLOCK)), [0, 0, 0], 'blocks 0-2 are ZERO_BLOCK');
  t.same(engine.storedSize(id).blocks, 1, 'one block stored');
  t.ok(engine.storedSize(id).stored < 100, 'a few bytes stored for a 384 KiB file');
});

t.test('a read into a buffer of the caller writes every byte: holes and short blocks as zeros over what it held', async (t) => {
  const { engine } = await withHome(t);
  // Block 0 a hole, block 1 written then cut short inside it and grown again (a short block
  // then zeros), block 2 whole, block 3 a hole up to the end.
  const id = await file(engine, '/home/into');
  const data = content('into', 2 * BLOCK_SIZE);
  await engine.write(id, BLOCK_SIZE, data);
  await engine.truncate(id, BLOCK_SIZE + 100);
  await engine.write(id, 2 * BLOCK_SIZE, data.subarray(0, BLOCK_SIZE));
  await engine.truncate(id, 4 * BLOCK_SIZE - 5);
  const size = engine.info(id)!.size;
  const expected = await engine.read(id, 0, size);
  t.equal(expected.length, size);
  t.ok(expected.subarray(0, BLOCK_SIZE).equals(Buffer.alloc(BLOCK_SIZE)), 'the hole reads as zeros (a fresh result)');
  t.ok(expected.subarray(BLOCK_SIZE + 100, 2 * BLOCK_SIZE).equals(Buffer.alloc(BLOCK_SIZE - 100)), 'past the cut: zeros');
  for (const [off, len] of [[0, size], [BLOCK_SIZE - 10, 2 * BLOCK_SIZE], [BLOCK_SIZE + 50, 100], [2 * BLOCK_SIZE, BLOCK_SIZE], [3 * BLOCK_SIZE + 1, BLOCK_SIZE]] as const) {
    const into = Buffer.alloc(size + 10, 0xaa);
    const got = await engine.read(id, off, len, into);
    const want = expected.subarray(off, Math.min(size, off + len));
    t.equal(got.buffer, into.buffer, `read at ${off}: a view of the buffer given`);
    t.equal(got.byteOffset, into.byteOffset, `read at ${off}: from its start`);
    t.ok(got.equals(want), `read at ${off} of ${len} bytes: the same bytes as a fresh read`);
    t.ok(into.subarray(want.length).equals(Buffer.alloc(size + 10 - want.length, 0xaa)), `read at ${off}: nothing written past the bytes read`);
  }
  t.equal((await engine.read(id, size, 10, Buffer.alloc(4, 1))).length, 0, 'past the end: nothing, from a buffer of any size');
  await t.rejects(engine.read(id, 0, 100, Buffer.alloc(99)), { code: 'BAD_ARGUMENT' }, 'a buffer too small for the read is refused');
});

t.test('hard links share one node and its content', async (t) => {
  const { engine } = await withHome(t);
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  const id = await file(engine, '/home/a', Buffer.from('shared'));
  await engine.run({ type: 'link', path: '/home/a', newPath: '/home/d/b' });
  const a = engine.stat('/home/a');
  const b = engine.stat('/home/d/b');
  t.equal(b.id, a.id, 'one node');
  t.equal(b.ino, a.ino, 'one inode');
  t.equal(a.nlink, 2);
  await engine.write(b.id, 0, Buffer.from('SHARED, changed'));
  t.equal((await readAll(engine, engine.stat('/home/a').id)).toString(), 'SHARED, changed', 'a write through one name shows through the other');
  await engine.run({ type: 'setxattr', id, name: 'user.k', value: Buffer.from('v') });
  t.same(engine.listxattr(engine.stat('/home/d/b').id), ['user.k'], 'xattrs are the node\'s');
  await engine.run({ type: 'unlink', path: '/home/a' });
  t.equal(engine.stat('/home/d/b').nlink, 1, 'one name left');
  t.equal((await readAll(engine, id)).toString(), 'SHARED, changed', 'the content stays');
});

t.test('an unlinked file stays readable by id, and can still be written (an open file)', async (t) => {
  const { engine } = await withHome(t);
  const data = content('orphan', BLOCK_SIZE + 10);
  const id = await file(engine, '/home/tmp', data);
  await engine.run({ type: 'unlink', path: '/home/tmp' });
  t.throws(() => engine.stat('/home/tmp'), { code: 'NOT_FOUND' }, 'no name');
  t.equal(engine.info(id)?.nlink, 0, 'nlink 0');
  t.ok((await readAll(engine, id)).equals(data), 'the content reads by id');
  await engine.write(id, 0, Buffer.from('still open'));
  await engine.truncate(id, 20);
  await engine.commit(id);
  const got = await readAll(engine, id);
  t.ok(got.subarray(0, 10).equals(Buffer.from('still open')) && got.subarray(10).equals(data.subarray(10, 20)), 'write and truncate of the open, unlinked file');
  t.equal(engine.info(id)?.pending, 0, 'and committed on its last close');
  await t.rejects(engine.write(engine.stat('/home').id, 0, Buffer.from('x')), { code: 'IS_A_DIRECTORY' }, 'a directory has no content');
  await t.rejects(engine.read('f'.repeat(32), 0, 1), { code: 'NOT_FOUND' }, 'nor has an unknown id');
});

t.test('close and open again: everything is kept', async (t) => {
  const s = await withHome(t);
  let engine = s.engine;
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o750, owner: OWNER });
  const big = content('keep', BLOCK_SIZE * 2 + 99);
  const id = await file(engine, '/home/d/f', big);
  await engine.commit(id);
  await engine.write(id, 5, Buffer.from('pending'));
  await engine.run({ type: 'symlink', path: '/home/l', target: 'd/f', owner: OWNER });
  await engine.run({ type: 'link', path: '/home/d/f', newPath: '/home/f2' });
  await engine.run({ type: 'setxattr', id, name: 'user.x', value: Buffer.from([1, 2, 3]) });
  await engine.run({ type: 'setattr', id, mode: 0o600, mtime: 1234 });
  await engine.run({ type: 'mkdir', path: '/work', mode: 0o755, owner: OWNER });
  const digests = engine.projections.digests();
  const listing = JSON.stringify(engine.readdir('/home/d'));
  const before = await readAll(engine, id);
  engine = await s.reopen();
  t.same(engine.projections.digests(), digests, 'the same projections');
  t.equal(JSON.stringify(engine.readdir('/home/d')), listing, 'the same entries, inodes and metadata');
  t.ok((await readAll(engine, id)).equals(before), 'the same bytes');
  t.equal(engine.readlink('/home/l'), 'd/f');
  t.same(Buffer.from(engine.getxattr(id, 'user.x')), Buffer.from([1, 2, 3]));
  t.equal(engine.info(id)!.pending, 1, 'the pending write is still pending');
  t.equal(engine.info(id)!.mtime, 1234);
  t.same(engine.readdir('/').map((e) => e.name), ['home', 'work']);
  t.ok((await replayCheck(engine)).ok, 'and the log rebuilds to the same projections');
});

/** The segment file of the home feed and its size now. */
async function segmentOf(engine: Engine): Promise<{ path: string; size: number }> {
  const feed = homeFeed(engine);
  const path = feed.location(0).segment;
  return { path, size: (await stat(path)).size };
}

t.test('crash: projections ahead of a trimmed log are rebuilt from the log', async (t) => {
  const s = await withHome(t);
  await s.engine.run({ type: 'create', path: '/home/kept', mode: 0o644, owner: OWNER });
  await file(s.engine, '/home/kept-data', Buffer.from('durable'));
  const seg = await segmentOf(s.engine);
  const keptDigests = s.engine.projections.digests();
  // Staged and applied; the log's copy is then lost, as if the machine died before the fsync.
  await s.engine.run({ type: 'create', path: '/home/lost', mode: 0o644, owner: OWNER });
  await s.engine.write(s.engine.stat('/home/kept-data').id, 0, Buffer.from('LOST!!!'));
  t.ok(s.engine.lookup('/home/lost'), 'applied');
  await s.close();
  await truncate(seg.path, seg.size);

  const replays: boolean[] = [];
  const engine = await s.reopen({ onReplay: (p) => replays.push(p.rebuild) });
  t.ok(replays.includes(true), 'open noticed the projections were ahead and rebuilt them');
  t.equal(engine.lookup('/home/lost'), undefined, 'what the log lost is gone from the projections');
  t.equal((await readAll(engine, engine.stat('/home/kept-data').id)).toString(), 'durable', 'the durable bytes, not the lost write');
  const check = await replayCheck(engine);
  t.ok(check.ok, 'the projections equal a rebuild from the log');
  const now = engine.projections.digests();
  for (const name of ['tree', 'content', 'xattrs']) {
    t.equal(now.find((d) => d.name === name)?.digest, keptDigests.find((d) => d.name === name)?.digest, `${name}: as it was when the log ended`);
  }
  await engine.run({ type: 'create', path: '/home/after', mode: 0o644, owner: OWNER });
  t.ok(engine.lookup('/home/after'), 'and the store takes new commands');
});

t.test('crash: a torn tail is cut and the projections follow the log', async (t) => {
  const s = await withHome(t);
  await s.engine.run({ type: 'create', path: '/home/kept', mode: 0o644, owner: OWNER });
  const seg = await segmentOf(s.engine);
  await s.engine.run({ type: 'create', path: '/home/torn', mode: 0o644, owner: OWNER });
  await s.close();
  // Tear the last frame: keep its first half.
  const full = (await stat(seg.path)).size;
  await truncate(seg.path, seg.size + Math.floor((full - seg.size) / 2));
  const recoveries: string[] = [];
  const replays: boolean[] = [];
  const engine = await s.reopen({ onRecovery: (r) => recoveries.push(r.reason), onReplay: (p) => replays.push(p.rebuild) });
  t.equal(recoveries.length, 1, `the torn tail was cut (${recoveries.join()})`);
  t.ok(replays.includes(true), 'and the projections rebuilt');
  t.equal(engine.lookup('/home/torn'), undefined);
  t.ok(engine.lookup('/home/kept'));
  t.ok((await replayCheck(engine)).ok);
});

t.test('crash: the log holds a different entry where the projections applied another', async (t) => {
  const s = await withHome(t);
  await s.engine.run({ type: 'create', path: '/home/a', mode: 0o644, owner: OWNER });
  const seg = await segmentOf(s.engine);
  const segBytes = await readFile(seg.path);
  await s.engine.run({ type: 'create', path: '/home/b', mode: 0o644, owner: OWNER });
  await s.close();
  // Keep the projections that applied "b" as entry N.
  const projections = join(s.root, 'projections');
  const saved = `${projections}.saved`;
  await cp(projections, saved, { recursive: true });
  // The log forgets "b"; entry N becomes "c" instead.
  await writeFile(seg.path, segBytes);
  let engine = await s.reopen();
  await engine.run({ type: 'create', path: '/home/c', mode: 0o644, owner: OWNER });
  t.ok(engine.lookup('/home/c'));
  await s.close();
  // Put back the projections that hold "b" at the same position as "c".
  await rm(projections, { recursive: true });
  await cp(saved, projections, { recursive: true });
  const replays: boolean[] = [];
  engine = await s.reopen({ onReplay: (p) => replays.push(p.rebuild) });
  t.ok(replays.includes(true), 'the hash of the last applied entry differs: rebuilt');
  t.equal(engine.lookup('/home/b'), undefined, 'b is gone');
  t.ok(engine.lookup('/home/c'), 'c is there');
  t.ok((await replayCheck(engine)).ok);
});

t.test('group commit: a burst of 2,000 concurrent submits shares a few writes and fsyncs', async (t) => {
  const s = await withHome(t);
  const { engine } = s;
  const feed = homeFeed(engine);
  // One group write = one call of the feed set's beforeWrite hook, then one write and one datasync.
  let groupWrites = 0;
  const hook = engine.store.feeds.beforeWrite;
  engine.store.feeds.beforeWrite = async () => {
    groupWrites++;
    await hook?.();
  };
  // And, independently, every datasync/fsync any file handle makes.
  const probe = await open(join(s.root, 'realize-store.json'), 'r');
  const proto = Object.getPrototypeOf(probe) as { datasync: (...a: unknown[]) => Promise<void>; sync: (...a: unknown[]) => Promise<void> };
  await probe.close();
  const { datasync, sync } = proto;
  let syncs = 0;
  proto.datasync = function (this: unknown, ...a: unknown[]) {
    syncs++;
    return datasync.apply(this, a);
  };
  proto.sync = function (this: unknown, ...a: unknown[]) {
    syncs++;
    return sync.apply(this, a);
  };
  t.teardown(() => {
    proto.datasync = datasync;
    proto.sync = sync;
  });

  const N = 2000;
  const before = feed.length;
  const started = performance.now();
  const results = await Promise.all(Array.from({ length: N }, (_, i) => engine.submit({ type: 'create', path: `/home/f${i}`, mode: 0o644, owner: OWNER })));
  t.equal(engine.readdir('/home').length, N, 'every create is visible at once');
  t.equal(new Set(results.map((r) => r.entry!.seq)).size, N, 'one entry each');
  await Promise.all(results.map((r) => r.durable));
  await engine.flush();
  const ms = performance.now() - started;
  const entries = feed.length - before;
  t.equal(entries, N, 'all durable: the log holds them');
  t.ok(groupWrites >= 1 && groupWrites <= N / 100, `${groupWrites} group writes for ${N} entries (${(N / groupWrites).toFixed(0)} entries per write, ${ms.toFixed(0)} ms)`);
  t.ok(syncs <= groupWrites + 5, `${syncs} fsyncs in all, far fewer than ${N} entries`);
  proto.datasync = datasync;
  proto.sync = sync;

  const engine2 = await s.reopen();
  t.equal(engine2.readdir('/home').length, N, 'and all of it is there after close and open');
  const entriesRead: Entry[] = await homeFeed(engine2).read(before);
  t.equal(entriesRead.length, N, 'every entry reads back from the log');
  t.ok((await replayCheck(engine2)).ok);
});

t.test('a failed command changes nothing and is not logged', async (t) => {
  const { engine } = await withHome(t);
  const feed = homeFeed(engine);
  const before = feed.length;
  const digests = engine.projections.digests();
  await t.rejects(engine.run({ type: 'rmdir', path: '/home/nope' }), EngineError);
  await t.rejects(engine.run({ type: 'symlink', path: '/home/s', target: '', owner: OWNER }), { code: 'INVALID' }, 'an event that would not validate is refused, not logged and skipped');
  await t.rejects(
    engine.appendEvents('home', [{ type: 'mkdir', id: 'a'.repeat(32), parent: 'root', name: 'x', mode: 0o755, uid: 0, gid: 0, time: 1 }]),
    { code: 'INVALID', message: /parent/ },
    'appendEvents (import) refuses an event apply would skip',
  );
  t.equal(feed.length, before, 'nothing appended');
  t.same(engine.projections.digests(), digests, 'nothing applied');
});

t.test('a store whose projections are lost: the log and the packs give everything back', async (t) => {
  const s = await withHome(t);
  const data = content('lost-env', BLOCK_SIZE + 1000);
  const id = await file(s.engine, '/home/f', data);
  const digests = s.engine.projections.digests();
  await s.close();
  await rm(join(s.root, 'projections'), { recursive: true });
  const engine = await s.reopen();
  t.same(engine.projections.digests(), digests, 'the projections rebuilt from the log');
  t.ok((await readAll(engine, id)).equals(data), 'the blocks found again in their packs');
});

t.test('a failed append: the projections are rebuilt from the log while new commands wait for it', async (t) => {
  const s = await withHome(t);
  const engine = s.engine;
  await engine.run({ type: 'create', path: '/home/kept', mode: 0o644, owner: OWNER });
  const sync = engine.store.feeds.beforeWrite;
  let fail = true;
  engine.store.feeds.beforeWrite = async () => {
    if (fail) {
      fail = false;
      throw Object.assign(new Error('injected: the disk said no'), { code: 'EIO' });
    }
    await sync?.();
  };
  const lost = await engine.submit({ type: 'create', path: '/home/lost', mode: 0o644, owner: OWNER });
  t.ok(engine.lookup('/home/lost'), 'applied before it is durable');
  let reported = false;
  const failed = lost.durable.then(
    () => null,
    (err: unknown) => {
      reported = true;
      return err as Error;
    },
  );
  // Commands keep coming, one a turn, from before the failure until it is reported (while
  // the projections are rebuilt): each must land in the log and the projections once.
  const made: string[] = [];
  const runs: Promise<unknown>[] = [];
  while (!reported) {
    const path = `/home/during-${made.length}`;
    made.push(path);
    runs.push(engine.run({ type: 'create', path, mode: 0o644, owner: OWNER }).catch((e: unknown) => e));
    await new Promise((r) => setImmediate(r));
  }
  const err = await failed;
  t.match(err?.message ?? '', /append failed/, 'the failed entry reports the append error');
  const outcomes = await Promise.all(runs);
  t.ok(made.length > 1, `commands were submitted during the recovery (${made.length})`);
  t.equal(engine.lookup('/home/lost'), undefined, 'the entry that never became durable is gone');
  t.ok(engine.lookup('/home/kept'), 'what was durable before is there');
  // Those staged behind the failed entry fail with it (their chain named it) and are absent;
  // every other one is acknowledged and there: none decides against a half-rebuilt tree.
  made.forEach((path, i) => {
    const out = outcomes[i];
    if (out instanceof Error) {
      t.match(out.message, /append failed/, `${path}: failed with the append it was chained behind`);
      t.equal(engine.lookup(path), undefined, `${path}: absent`);
    } else {
      t.ok(engine.lookup(path), `${path}: acknowledged and there`);
    }
  });
  t.notOk(outcomes.at(-1) instanceof Error, 'the last command, submitted while the projections were rebuilt, is acknowledged');
  const check = await replayCheck(engine);
  t.ok(check.ok, `the projections equal a rebuild from the log (${check.ok ? 'same' : JSON.stringify(check)})`);
});
