/**
 * The write cache (engine/write-cache.ts), with injected timers: a write lands in memory and
 * returns before anything is logged; reads and size see it at once; a flush turns the branch
 * into one write event; fsync (flush with durable) resolves only once that event is on disk;
 * a rest period or a bound starts a flush on its own.
 */
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { BLOCK_SIZE, type Feed, type FsEvent } from '../../log/index.js';
import { WriteCache, type Engine, type WriteCacheOptions } from '../../engine/index.js';
import { content, OWNER, openStore } from './helpers/env.js';
import { blockAt } from '../../projections/index.js';
import { packFileName, RECORD_HEADER_BYTES } from '../../engine/block-pack.js';

/** Timers that fire only when told to. */
class FakeTimers {
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  #next = 1;
  readonly set = (fn: () => void, ms: number): { id: number; unref: () => void } => {
    const id = this.#next++;
    this.pending.set(id, { fn, ms });
    return { id, unref: () => undefined };
  };
  readonly clear = (h: unknown): void => {
    this.pending.delete((h as { id: number }).id);
  };
  /** Runs every pending timer; returns how many ran. */
  fire(): number {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const { fn } of all) fn();
    return all.length;
  }
}

interface Setup {
  engine: Engine;
  cache: WriteCache;
  timers: FakeTimers;
  feed: Feed;
  file(path: string, data?: Uint8Array): Promise<string>;
}

async function setup(t: Test, opts: WriteCacheOptions = {}): Promise<Setup> {
  const { engine } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  const timers = new FakeTimers();
  const cache = new WriteCache(engine, { restMs: 1000, setTimer: timers.set, clearTimer: timers.clear, ...opts });
  const feed = engine.store.feeds.get(`${engine.store.publicKey}.home`)!;
  const file = async (path: string, data?: Uint8Array): Promise<string> => {
    await engine.run({ type: 'create', path, mode: 0o644, owner: OWNER });
    const { id } = engine.stat(path);
    if (data) {
      await engine.write(id, 0, data);
      await engine.commit(id);
    }
    return id;
  };
  return { engine, cache, timers, feed, file };
}

/** Write events appended since entry `from`. */
async function writesSince(feed: Feed, from: number): Promise<Array<Extract<FsEvent, { type: 'write' }>>> {
  const out: Array<Extract<FsEvent, { type: 'write' }>> = [];
  for (const e of await feed.read(from)) for (const ev of e.events as unknown as FsEvent[]) if (ev.type === 'write') out.push(ev);
  return out;
}

/** Lets background work run until `done` holds (bounded). */
async function until(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 2000 && !done(); i++) await new Promise((r) => setTimeout(r, 1));
  return done();
}

t.test('a write returns before anything is logged; reads and size see it', async (t) => {
  const { engine, cache, timers, feed, file } = await setup(t);
  const id = await file('/home/f');
  const before = feed.length;
  const data = content('w', 5000);
  await cache.write(id, 0, data);
  t.equal(feed.length, before, 'nothing in the log');
  t.equal(feed.pending, 0, 'nothing even staged');
  t.equal(engine.info(id)!.size, 0, 'the projections do not know it yet');
  t.equal(cache.size(id), 5000, 'the cache knows the new size');
  t.ok((await cache.read(id, 0, 10_000)).equals(data), 'reads through the cache see the bytes');
  t.ok((await cache.read(id, 100, 50)).equals(data.subarray(100, 150)), 'and any range of them');
  t.equal(cache.dirtyBytes, BLOCK_SIZE, 'one dirty block held');
  t.same([...timers.pending.values()].map((p) => p.ms), [1000], 'a rest timer is armed');
  await cache.write(id, 5000, Buffer.from('more'));
  t.equal(timers.pending.size, 1, 'another write re-arms the one timer');
});

t.test('flush turns the branch into one write event', async (t) => {
  const { engine, cache, timers, feed, file } = await setup(t);
  const id = await file('/home/f');
  const before = feed.length;
  const a = content('a', 3000);
  const b = content('b', 2000);
  await cache.write(id, 0, a);
  await cache.write(id, 1000, b);
  await cache.write(id, BLOCK_SIZE + 10, Buffer.from('second block'));
  await cache.flush(id);
  t.notOk(cache.has(id), 'the branch is gone');
  t.equal(timers.pending.size, 0, 'its timer is cleared');
  t.equal(cache.dirtyBytes, 0);
  await engine.flush();
  t.equal(feed.length, before + 1, 'one entry');
  const writes = await writesSince(feed, before);
  t.equal(writes.length, 1, 'one write event for three writes');
  t.same(writes[0]!.blocks.map(([i]) => i), [0, 1], 'naming both dirty blocks');
  t.equal(writes[0]!.size, BLOCK_SIZE + 10 + 12);
  const expected = Buffer.alloc(BLOCK_SIZE + 22);
  a.copy(expected, 0);
  b.copy(expected, 1000);
  Buffer.from('second block').copy(expected, BLOCK_SIZE + 10);
  t.ok((await engine.read(id, 0, BLOCK_SIZE * 2)).equals(expected), 'the engine reads what the cache held');
  t.ok((await cache.read(id, 0, BLOCK_SIZE * 2)).equals(expected), 'and so does the cache, from the engine now');
  await cache.flush(id);
  t.equal(feed.length, before + 1, 'flushing a clean file logs nothing');
});

t.test('fsync (flush durable) resolves only after the write is durable; a plain flush does not wait', async (t) => {
  const { engine, cache, feed, file } = await setup(t);
  const id = await file('/home/f');
  const before = feed.length;
  await cache.write(id, 0, Buffer.from('plain'));
  await cache.flush(id);
  t.equal(engine.info(id)!.size, 5, 'applied: the projections see it');
  t.equal(feed.pending, 1, 'but the entry still waits for its group write');
  t.equal(feed.length, before, 'and is not in the log yet');
  await cache.write(id, 5, Buffer.from(' + fsync'));
  let writtenAt = -1;
  let step = 0;
  const hook = engine.store.feeds.beforeWrite;
  engine.store.feeds.beforeWrite = async () => {
    await hook?.();
    writtenAt = ++step;
  };
  await cache.flush(id, { durable: true });
  const resolvedAt = ++step;
  t.ok(writtenAt > 0 && writtenAt < resolvedAt, 'the group write happened before fsync returned');
  t.equal(feed.pending, 0, 'nothing left unwritten');
  t.equal(feed.length, before + 2, 'both entries are in the log');
  t.equal((await engine.read(id, 0, 100)).toString(), 'plain + fsync');
});

t.test('overlapping writes: the last one wins byte by byte', async (t) => {
  const { engine, cache, file } = await setup(t);
  const id = await file('/home/f');
  const model = Buffer.alloc(BLOCK_SIZE + 300);
  const put = async (offset: number, data: Buffer): Promise<void> => {
    await cache.write(id, offset, data);
    data.copy(model, offset);
  };
  await put(0, Buffer.alloc(100, 'a'));
  await put(50, Buffer.alloc(100, 'b'));
  await put(20, Buffer.alloc(10, 'c'));
  await put(BLOCK_SIZE - 10, Buffer.alloc(20, 'd'));
  await put(BLOCK_SIZE - 15, Buffer.alloc(10, 'e'));
  await put(BLOCK_SIZE + 200, Buffer.alloc(100, 'f'));
  await put(BLOCK_SIZE + 250, Buffer.alloc(10, 'g'));
  t.equal(cache.size(id), model.length);
  t.ok((await cache.read(id, 0, model.length)).equals(model), 'the cache reads the model');
  await cache.flush(id);
  t.ok((await engine.read(id, 0, model.length)).equals(model), 'and so does the engine after the flush');
});

t.test('partial block writes over existing content keep the rest of the block', async (t) => {
  const { engine, cache, feed, file } = await setup(t);
  const base = content('base', 2 * BLOCK_SIZE + 500);
  const id = await file('/home/f', base);
  const before = feed.length;
  const patch = content('patch', 50);
  await cache.write(id, BLOCK_SIZE + 100, patch);
  const expected = Buffer.from(base);
  patch.copy(expected, BLOCK_SIZE + 100);
  t.equal(cache.size(id), base.length, 'the size is unchanged');
  t.ok((await cache.read(id, 0, base.length)).equals(expected), 'the cache merges the patch into the old block');
  t.ok((await cache.read(id, BLOCK_SIZE + 90, 20)).equals(expected.subarray(BLOCK_SIZE + 90, BLOCK_SIZE + 110)), 'a read across the patch edge');
  await cache.write(id, 2 * BLOCK_SIZE + 490, Buffer.from('past the end'));
  const grown = Buffer.concat([expected.subarray(0, 2 * BLOCK_SIZE + 490), Buffer.from('past the end')]);
  t.ok((await cache.read(id, 0, grown.length + 10)).equals(grown), 'a write over the last partial block and past the end');
  await cache.flush(id, { durable: true });
  const writes = await writesSince(feed, before);
  t.same(writes.map((w) => w.blocks.map(([i]) => i)), [[1, 2]], 'only the touched blocks are logged');
  t.ok((await engine.read(id, 0, grown.length + 10)).equals(grown), 'the engine reads the merged content');
});

t.test('a rest period flushes on its own (the injected timer)', async (t) => {
  const { engine, cache, timers, file } = await setup(t);
  const id = await file('/home/f');
  await cache.write(id, 0, Buffer.from('resting'));
  t.equal(engine.info(id)!.pending, 0, 'no event before the timer');
  t.equal(timers.fire(), 1, 'the rest timer fires');
  t.ok(await until(() => engine.info(id)!.pending === 1), 'the branch was flushed into a write event');
  t.ok(await until(() => !cache.has(id)), 'and dropped');
  t.equal((await engine.read(id, 0, 100)).toString(), 'resting');
});

t.test('a file past its bound is flushed while it is being written', async (t) => {
  const { engine, cache, timers, file } = await setup(t, { fileBound: 2 * BLOCK_SIZE });
  const id = await file('/home/f');
  await cache.write(id, 0, content('x', BLOCK_SIZE));
  t.equal(engine.info(id)!.pending, 0, 'one block: under the bound');
  await cache.write(id, BLOCK_SIZE, content('y', BLOCK_SIZE));
  t.ok(await until(() => engine.info(id)!.pending === 1), 'two blocks: flushed without a timer or a flush call');
  t.equal(engine.info(id)!.size, 2 * BLOCK_SIZE);
  t.ok(await until(() => cache.dirtyBytes === 0), 'the memory is given back');
  t.ok(timers.pending.size <= 1, 'no timer had to fire');
});

t.test('the whole cache past its bound: a writer waits until the biggest branch is flushed', async (t) => {
  const { engine, cache, file } = await setup(t, { totalBound: 3 * BLOCK_SIZE });
  const big = await file('/home/big');
  const small = await file('/home/small');
  await cache.write(big, 0, content('b0', 2 * BLOCK_SIZE));
  t.equal(cache.dirtyBytes, 2 * BLOCK_SIZE);
  t.equal(engine.info(big)!.pending, 0, 'under the bound: nothing flushed');
  await cache.write(small, 0, Buffer.from('tips it over'));
  t.equal(engine.info(big)!.pending, 1, 'when the write returns, the biggest branch has been flushed');
  t.equal(engine.info(small)!.pending, 0, 'the small one stays in memory');
  t.equal(cache.dirtyBytes, BLOCK_SIZE, 'one block left dirty');
  t.equal((await cache.read(small, 0, 100)).toString(), 'tips it over');
});

t.test('truncate through the cache: pending writes first, then the cut; no stale bytes', async (t) => {
  const { engine, cache, feed, file } = await setup(t);
  const id = await file('/home/f', content('old', 3000));
  const before = feed.length;
  await cache.write(id, 100, Buffer.alloc(100, 'n'));
  await cache.truncate(id, 150);
  t.notOk(cache.has(id), 'the branch was flushed');
  const got = await cache.read(id, 0, 5000);
  t.equal(got.length, 150);
  t.ok(got.subarray(100).equals(Buffer.alloc(50, 'n')), 'the write survives up to the cut');
  await cache.write(id, 1000, Buffer.from('z'));
  const grown = await cache.read(id, 0, 5000);
  t.equal(grown.length, 1001);
  t.ok(grown.subarray(150, 1000).equals(Buffer.alloc(850)), 'the gap after the cut reads as zeros');
  await cache.flush(id, { durable: true });
  t.ok((await engine.read(id, 0, 5000)).equals(grown), 'as does the engine');
  const kinds = (await feed.read(before)).flatMap((e) => (e.events as unknown as FsEvent[]).map((ev) => ev.type));
  t.same(kinds, ['write', 'truncate', 'write'], 'write, then the cut, then the new write');
});

t.test('a write that waits for old content while a flush finishes is not lost', async (t) => {
  const { engine, cache, file } = await setup(t);
  const base = content('base', 2 * BLOCK_SIZE);
  const id = await file('/home/f', base);
  await cache.write(id, 0, Buffer.from('first'));
  // Hold the read of block 1's old content until the flush of block 0 has finished.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const read = engine.read.bind(engine);
  engine.read = async (...args) => {
    await gate;
    return read(...args);
  };
  const flushing = cache.flush(id);
  const writing = cache.write(id, BLOCK_SIZE + 10, Buffer.from('second'));
  await flushing;
  release();
  await writing;
  engine.read = read;
  t.ok(cache.has(id), 'the write still has its branch');
  t.equal((await cache.read(id, BLOCK_SIZE + 10, 6)).toString(), 'second', 'reads see the second write');
  await cache.flush(id, { durable: true });
  t.equal((await engine.read(id, BLOCK_SIZE + 10, 6)).toString(), 'second', 'and fsync made it durable');
  t.equal((await engine.read(id, 0, 5)).toString(), 'first');
  t.ok((await engine.read(id, BLOCK_SIZE + 16, 100)).equals(base.subarray(BLOCK_SIZE + 16, BLOCK_SIZE + 116)), 'around it, the old bytes');
});

t.test('flushAll: every branch, durably', async (t) => {
  const { engine, cache, feed, file } = await setup(t);
  const ids = [await file('/home/a'), await file('/home/b'), await file('/home/c')];
  for (const [k, id] of ids.entries()) await cache.write(id, k * 100, Buffer.from(`file ${k}`));
  await cache.flushAll();
  t.equal(feed.pending, 0, 'all durable');
  t.equal(cache.dirtyBytes, 0);
  for (const [k, id] of ids.entries()) t.equal((await engine.read(id, k * 100, 6)).toString(), `file ${k}`);
});

t.test('writeNow: a write that needs no read lands at once, without a promise; one that does says so', async (t) => {
  const { engine, cache, file } = await setup(t);
  const id = await file('/home/f', content('base', BLOCK_SIZE + 100));
  const fresh = await file('/home/g');
  t.ok(cache.writeNow(fresh, 0, content('a', 4096)), 'an append to an empty file');
  t.ok(cache.writeNow(fresh, 4096, content('b', 4096)), 'the next append, into the block in memory');
  t.equal(cache.size(fresh), 8192);
  t.ok((await cache.read(fresh, 4096, 4096)).equals(content('b', 4096)), 'read back at once');
  t.notOk(cache.writeNow(id, 10, Buffer.from('x')), 'a write inside a stored block needs that block read first');
  t.equal(cache.dirtyBytes, BLOCK_SIZE, 'nothing written by the refusal (one block in memory, the other file\'s)');
  t.ok(cache.writeNow(id, 0, content('whole', BLOCK_SIZE)), 'a whole block needs no read');
  await cache.write(id, 10, Buffer.from('x'));
  const want = Buffer.concat([content('whole', BLOCK_SIZE), content('base', BLOCK_SIZE + 100).subarray(BLOCK_SIZE)]);
  want[10] = 'x'.charCodeAt(0);
  t.ok((await cache.read(id, 0, 2 * BLOCK_SIZE)).equals(want));
  await cache.flush(id);
  await cache.flush(fresh);
  t.ok((await engine.read(id, 0, 2 * BLOCK_SIZE)).equals(want), 'flushed as written');
  t.ok((await engine.read(fresh, 0, 8192)).equals(Buffer.concat([content('a', 4096), content('b', 4096)])));
});

t.test('flush with commit: the write and the commit go in one entry', async (t) => {
  const { engine, cache, feed, file } = await setup(t);
  const id = await file('/home/f');
  const before = feed.length;
  await cache.write(id, 0, content('c', 5000));
  await cache.flush(id, { commit: true });
  await engine.flush();
  t.equal(feed.length, before + 1, 'one entry');
  const [entry] = await feed.read(before);
  t.same((entry!.events as unknown as FsEvent[]).map((e) => e.type), ['write', 'commit'], 'a write, then a commit');
  const state = engine.contentState(id)!;
  t.equal(state.pending, 0, 'nothing left pending');
  t.equal(state.commits, 1, 'one version');
  t.ok((await engine.read(id, 0, 5000)).equals(content('c', 5000)));
});

t.test('a write during a flush lands in a copy of the block being flushed; neither is torn', async (t) => {
  const { engine, cache, file } = await setup(t);
  const id = await file('/home/f');
  const first = content('first', 2 * BLOCK_SIZE);
  await cache.write(id, 0, first);
  const flushing = cache.flush(id);
  // The flush took the blocks; this write lands while it hashes and stores them.
  await cache.write(id, 100, Buffer.from('second'));
  t.ok((await cache.read(id, 0, 2 * BLOCK_SIZE)).subarray(100, 106).equals(Buffer.from('second')), 'reads see the new write at once');
  await flushing;
  await cache.flush(id);
  const want = Buffer.from(first);
  Buffer.from('second').copy(want, 100);
  t.ok((await engine.read(id, 0, 2 * BLOCK_SIZE)).equals(want), 'both writes are in the file');
  t.equal(cache.dirtyBytes, 0, 'every block buffer was let go');
});

t.test('flushed blocks are handed to the block store uncopied and read back right', async (t) => {
  const { engine, cache, file } = await setup(t);
  const ids: string[] = [];
  for (let f = 0; f < 4; f++) {
    const id = await file(`/home/f${f}`);
    ids.push(id);
    // Enough blocks that the store writes some out (and gives their buffers back) while others are staged.
    for (let i = 0; i < 80; i++) await cache.write(id, i * BLOCK_SIZE, content(`f${f}-${i}`, BLOCK_SIZE));
    await cache.flush(id);
  }
  await engine.flush();
  for (let f = 0; f < 4; f++) {
    for (const i of [0, 33, 79]) {
      t.ok((await engine.read(ids[f]!, i * BLOCK_SIZE, BLOCK_SIZE)).equals(content(`f${f}-${i}`, BLOCK_SIZE)), `file ${f} block ${i}`);
    }
  }
});

t.test('a file flushed in many batches while it is written (each hashed while the last is written out): all of it durable after fsync', async (t) => {
  const s = await openStore(t);
  const engine = s.engine;
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/big', mode: 0o644, owner: OWNER });
  const { id } = engine.stat('/home/big');
  const feed = engine.store.feeds.get(`${engine.store.publicKey}.home`)!;
  const from = feed.length;
  const cache = new WriteCache(engine, { fileBound: 8 * BLOCK_SIZE, totalBound: 24 * BLOCK_SIZE, restMs: 60_000 });
  // 200 blocks (25 MiB), writers held at 24 blocks: the store starts a pack write every 8 MiB
  // queued, while the file's next batches are hashed and later writes land.
  const n = 200;
  for (let i = 0; i < n; i++) await cache.write(id, i * BLOCK_SIZE, content(`b${i}`, BLOCK_SIZE));
  await cache.flush(id, { durable: true });
  t.equal(cache.dirtyBytes, 0, 'every block left the cache');
  const writes = await writesSince(feed, from);
  t.ok(writes.length > 2, `flushed in batches (${writes.length} write events)`);
  t.equal(writes.reduce((k, w) => k + w.blocks.length, 0), n, 'every block named once');
  const again = await s.reopen();
  t.equal(again.stat('/home/big').size, n * BLOCK_SIZE);
  for (const i of [0, 7, 8, 63, 64, 127, 199]) {
    t.ok((await again.read(id, i * BLOCK_SIZE, BLOCK_SIZE)).equals(content(`b${i}`, BLOCK_SIZE)), `block ${i} read back after reopen`);
  }
});

t.test('flush with held times: write, commit and the times go in one entry, and the times stay', async (t) => {
  const { engine, cache, feed, file } = await setup(t);
  const id = await file('/home/f');
  const before = feed.length;
  await cache.write(id, 0, content('t', 3000));
  const mtime = 1_600_000_000_000;
  t.ok(cache.holdAttrs(id, { mtime }), 'the times are held with the data');
  t.equal(await cache.flush(id, { commit: true }), true, 'the times went with the data');
  await engine.flush();
  t.equal(feed.length, before + 1, 'one entry');
  const [entry] = await feed.read(before);
  t.same((entry!.events as unknown as FsEvent[]).map((e) => e.type), ['write', 'commit', 'setattr']);
  t.equal(engine.info(id)!.mtime, mtime, 'the mtime set is the one that stays');
  t.equal(engine.info(id)!.size, 3000);
  t.equal(cache.holdAttrs(id, { mtime }), false, 'nothing to flush: the caller sets the times itself');
});

t.test('held attributes: chmod, chown and times of a file with unflushed data go in its flush entry', async (t) => {
  const { engine, cache, feed, file } = await setup(t);
  const id = await file('/home/h');
  await engine.flush();
  const before = feed.length;
  t.equal(cache.holdAttrs(id, { mode: 0o600 }), false, 'no data in memory: nothing held, the caller submits');
  await cache.write(id, 0, content('h', 5000));
  const mtime = 1_600_000_000_000;
  t.equal(cache.holdAttrs(id, { mtime }), true);
  t.equal(cache.holdAttrs(id, { uid: 1234, gid: 4321 }), true);
  t.equal(cache.holdAttrs(id, { mode: 0o640 }), true);
  t.same(cache.view(id)!.attrs, { mtime, uid: 1234, gid: 4321, mode: 0o640 }, 'the view shows every held change');
  t.equal(engine.info(id)!.mode === 0o640, false, 'nothing applied yet');
  t.equal(await cache.flush(id, { commit: true }), true);
  await engine.flush();
  t.equal(feed.length, before + 1, 'one entry');
  const [entry] = await feed.read(before);
  const events = entry!.events as unknown as FsEvent[];
  t.same(events.map((e) => e.type), ['write', 'commit', 'setattr']);
  const info = engine.info(id)!;
  t.same([info.mode, info.uid, info.gid, info.mtime, info.size], [0o640, 1234, 4321, mtime, 5000], 'the held changes are applied after the data: the mtime set stays');
  t.equal(cache.view(id), undefined, 'nothing left in memory');
});

t.test('held times: a write after them sets the write time again', async (t) => {
  const { engine, cache, file } = await setup(t);
  const id = await file('/home/w');
  await cache.write(id, 0, content('w', 100));
  t.equal(cache.holdAttrs(id, { atime: 5, mtime: 7, mode: 0o700 }), true);
  await cache.write(id, 100, content('x', 100));
  t.same(cache.view(id)!.attrs, { atime: 5, mode: 0o700 }, 'the mtime held is dropped by the later write');
  await cache.flush(id);
  const info = engine.info(id)!;
  t.equal(info.mode, 0o700);
  t.equal(info.atime, 5);
  t.ok(info.mtime > 7, 'the write time stands');
});

t.test('sequential reads read the next blocks ahead, by hash, from the pack', async (t) => {
  const { engine, cache, file } = await setup(t);
  const data = content(5, 4 * BLOCK_SIZE);
  const id = await file('/home/seq', data);
  await engine.flush();
  t.same(await cache.read(id, 0, BLOCK_SIZE), data.subarray(0, BLOCK_SIZE));
  t.same(await cache.read(id, BLOCK_SIZE, BLOCK_SIZE), data.subarray(BLOCK_SIZE, 2 * BLOCK_SIZE), 'a second read where the first ended is sequential');
  await engine.blocks.aheadSettled();
  // Block 2 was read ahead: damage to its record in the pack now cannot reach the read.
  const hash = blockAt(engine.projections.content.row(id)!.blocks, 2);
  const loc = engine.projections.blockIndex.get(hash)!;
  const fh = await open(join(engine.blocks.dir, packFileName(loc.pack)), 'r+');
  await fh.write(Buffer.from([data[2 * BLOCK_SIZE + 7]! ^ 0xff]), 0, 1, loc.offset + RECORD_HEADER_BYTES + 7);
  await fh.close();
  t.same(await cache.read(id, 2 * BLOCK_SIZE, BLOCK_SIZE), data.subarray(2 * BLOCK_SIZE, 3 * BLOCK_SIZE), 'the block read ahead is served');
  await t.rejects(cache.read(id, 2 * BLOCK_SIZE, BLOCK_SIZE), { code: 'BLOCK_CORRUPT' }, 'a read that is not sequential goes to the pack');
});

t.test('a timer that can be refreshed (Node\'s) is restarted in place by each write, not made again', async (t) => {
  const made: Array<{ refreshed: number; cleared: boolean }> = [];
  const { engine } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  const cache = new WriteCache(engine, {
    restMs: 1000,
    setTimer: () => {
      const h = { refreshed: 0, cleared: false, unref: () => undefined, refresh: () => void h.refreshed++ };
      made.push(h);
      return h;
    },
    clearTimer: (h) => void ((h as { cleared: boolean }).cleared = true),
  });
  await engine.run({ type: 'create', path: '/home/r', mode: 0o644, owner: OWNER });
  const { id } = engine.stat('/home/r');
  for (let i = 0; i < 5; i++) await cache.write(id, i * 10, Buffer.from('0123456789'));
  t.equal(made.length, 1, 'one timer for the branch');
  t.equal(made[0]!.refreshed, 4, 'each later write refreshed it');
  await cache.flush(id);
  t.ok(made[0]!.cleared, 'the flush cleared it');
  t.equal((await cache.read(id, 0, 50)).toString(), '0123456789'.repeat(5));
});

t.test('appendFrom: from there on a write needs nothing read first, until onShrink says otherwise', async (t) => {
  const shrunk: string[] = [];
  let inside = 0;
  let exclusiveCalls = 0;
  const { cache, file } = await setup(t, {
    exclusive: (fn) => {
      exclusiveCalls++;
      inside++;
      try {
        return fn();
      } finally {
        inside--;
      }
    },
    onShrink: (id) => {
      t.equal(inside, 1, 'onShrink is told inside exclusive');
      shrunk.push(id);
    },
  });
  const id = await file('/home/a', content('s', BLOCK_SIZE + 100)); // 2 blocks stored
  t.equal(cache.appendFrom(id), 2 * BLOCK_SIZE, 'no branch: past the last stored block');
  t.notOk(cache.writeStaged(id, BLOCK_SIZE + 100, Buffer.from('x')), 'a staged write into a stored partial block is refused (it needs a read)');
  t.notOk(cache.has(id) && cache.size(id) !== BLOCK_SIZE + 100, 'and changed nothing');
  await cache.write(id, BLOCK_SIZE + 100, Buffer.from('tail')); // reads the tail block in
  t.equal(cache.appendFrom(id), BLOCK_SIZE, 'the tail block in memory: from its start');
  t.ok(cache.writeStaged(id, BLOCK_SIZE + 104, Buffer.from('more')), 'a staged append there lands at once');
  t.ok(cache.writeStaged(id, 5 * BLOCK_SIZE, Buffer.from('far')), 'and one past the end');
  t.equal(cache.size(id), 5 * BLOCK_SIZE + 3, 'the size follows');
  t.equal(cache.appendFrom(id), 5 * BLOCK_SIZE, 'the blocks skipped over are not in memory: from the last block on');
  const got = await cache.read(id, BLOCK_SIZE + 100, 8);
  t.equal(got.toString(), 'tailmore', 'reads see the staged bytes');
  await cache.flush(id);
  t.ok(exclusiveCalls >= 1, 'the flush let its blocks go inside exclusive');
  t.same(shrunk, [id], 'and said the file shrank once');
  t.equal(cache.appendFrom(id), 6 * BLOCK_SIZE, 'after the flush: past the last block again');
});

t.test('a flush reports which writers its data came from and the content before and after', async (t) => {
  const reports: Array<{ id: string; sources: number[]; before: string | null; after: string | null }> = [];
  const { engine, cache, file } = await setup(t, { onStored: (id, r) => reports.push({ id, sources: [...r.sources], before: r.before, after: r.after }) });
  const id = await file('/home/r', content('r', 1000));
  const { contentToken } = await import('../../engine/index.js');
  const t0 = contentToken(engine, id);
  t.type(t0, 'string', 'a stored file has a content token');
  await cache.write(id, 0, Buffer.from('one'), 7);
  await cache.flush(id);
  const t1 = contentToken(engine, id);
  t.not(t1, t0, 'the write event gave a new token');
  t.same(reports, [{ id, sources: [7], before: t0, after: t1 }], 'one report: writer 7 took it from t0 to t1');
  await cache.write(id, 0, Buffer.from('two'), 7);
  await cache.write(id, 10, Buffer.from('three'), 8);
  await cache.flush(id);
  t.same(reports[1]!.sources.sort(), [7, 8], 'two writers in one flush are both named');
  await engine.truncate(id, 2);
  t.not(contentToken(engine, id), reports[1]!.after, 'a change outside the cache (a truncate) gives a token no report named');
});
