/**
 * The parts of placement on their own: marks keyed by peer and inherited from the nearest
 * marked ancestor (Real by default), rebuilt from the log like every projection; the
 * eviction plan; read-ahead; cache sizes; the fetcher's deadlines and its sources.
 */
import t from 'tap';
import { BLOCK_SIZE, type PlacementMark } from '../../log/index.js';
import { replayCheck } from '../../engine/index.js';
import {
  Fetcher,
  markPath,
  parseSize,
  placementOf,
  planEviction,
  PlacementError,
  PlacementResolver,
  Readahead,
  type BlockSource,
  type CacheBlock,
} from '../../engine/placement/index.js';
import { OWNER, openStore } from '../engine/helpers/env.js';

const OTHER = 'b'.repeat(64);

t.test('marks: per peer, inherited from the nearest marked ancestor, Real by default', async (t) => {
  const s = await openStore(t);
  const e = s.engine;
  const self = e.store.publicKey;
  for (const path of ['/home', '/home/a', '/home/a/b']) await e.run({ type: 'mkdir', path, mode: 0o755, owner: OWNER });
  await e.run({ type: 'create', path: '/home/a/b/f', mode: 0o644, owner: OWNER });
  const id = (p: string): string => e.stat(p).id;
  const of = (p: string): string => placementOf(e.projections, self, id(p)).placement;
  t.equal(of('/home/a/b/f'), 'real', 'no marks anywhere: Real (the default)');
  t.equal(placementOf(e.projections, self, id('/home/a/b/f')).from, null, 'decided by the default');

  await markPath(e, '/home/a', 'unreal');
  t.equal(of('/home/a/b/f'), 'unreal', 'inherited from /home/a');
  t.equal(placementOf(e.projections, self, id('/home/a/b/f')).from, id('/home/a'), 'and says from where');
  t.equal(of('/home'), 'real', 'the parent is untouched');
  await e.run({ type: 'create', path: '/home/a/new', mode: 0o644, owner: OWNER });
  t.equal(of('/home/a/new'), 'unreal', 'a new file takes the setting of its directory');
  await markPath(e, '/home/a/b', 'real');
  t.equal(of('/home/a/b/f'), 'real', 'the nearest mark wins');
  await e.run({ type: 'rename', from: '/home/a/b/f', to: '/home/a/f' });
  t.equal(of('/home/a/f'), 'unreal', 'moved under another directory: it follows its new parent');
  await markPath(e, '/home/a/f', 'real');
  t.equal(of('/home/a/f'), 'real', "a file's own mark");
  t.equal((await markPath(e, '/home/a/f', 'real')).changed, false, 'the same mark again appends nothing');

  // Another peer's marks, carried in the same log, never change this peer's placement.
  const theirs: PlacementMark = { type: 'placement', id: id('/home'), peer: OTHER, placement: 'unreal', time: 1 };
  await e.appendEvents('home', [theirs]);
  t.equal(of('/home'), 'real', "another peer's mark does not change ours");
  t.equal(placementOf(e.projections, OTHER, id('/home/a/b')).placement, 'unreal', 'it is theirs');
  t.same(e.projections.placements.peers().sort(), [OTHER, self].sort(), 'marks are kept per peer');

  const resolver = new PlacementResolver(e.projections);
  for (const p of ['/home', '/home/a', '/home/a/b', '/home/a/f', '/home/a/new']) {
    t.same(resolver.of(self, id(p)), placementOf(e.projections, self, id(p)), `the resolver agrees on ${p}`);
  }
  const check = await replayCheck(e);
  t.ok(check.ok, 'a rebuild from the log gives the same placement rows');
  t.ok(check.projections.some((p) => p.name === 'placement'), 'placement is one of the projections checked');
  await s.reopen();
  t.equal(placementOf(s.engine.projections, self, s.engine.stat('/home/a/new').id).placement, 'unreal', 'the marks survive a reopen');
});

t.test('the eviction plan: least recently read first, down to the budget, never protected blocks', async (t) => {
  const block = (n: number, atime: number, stored = 100): CacheBlock => ({ hash: Buffer.alloc(32, n), key: `k${n}`, stored, atime });
  const blocks = [block(1, 50), block(2, 10), block(3, 30), block(4, 20), block(5, 40)];
  const none = planEviction(blocks, () => false, 1000);
  t.same(none.victims, [], 'under budget: nothing');
  t.equal(none.usage, 500);
  const some = planEviction(blocks, () => false, 250);
  t.same(some.victims.map((v) => v.key), ['k2', 'k4', 'k3'], 'the least recently read go first');
  t.equal(some.after, 200, 'and the rest fits the budget');
  const prot = planEviction(blocks, (k) => k === 'k2' || k === 'k4', 0);
  t.same(prot.victims.map((v) => v.key), ['k3', 'k5', 'k1'], 'protected blocks never go, even at budget 0');
  t.equal(prot.protectedBytes, 200, 'and do not count against the budget');
  t.equal(prot.after, 0);
});

t.test('read-ahead: none for a single or random read, a growing window for a sequential one', async (t) => {
  const ra = new Readahead({ min: 4, max: 16 });
  t.same(ra.onRead('f', 0, 0, 100), [], 'a first read: nothing ahead');
  t.same(ra.onRead('f', 50, 51, 100), [], 'a jump: nothing ahead');
  const w1 = ra.onRead('f', 52, 52, 100);
  t.same(w1, [53, 54, 55, 56, 57, 58, 59, 60], 'sequential: the next window');
  t.same(ra.onRead('f', 53, 53, 100), [], 'inside the window: nothing new yet');
  let w2: number[] = [];
  let at = 54;
  for (; at < 60 && w2.length === 0; at++) w2 = ra.onRead('f', at, at, 100);
  t.ok(at - 1 < 60, `approaching the end of the window (read ${at - 1}): the next one is asked for`);
  t.equal(w2[0], 61, 'it starts after what was asked');
  t.ok(w2.at(-1)! <= at - 1 + 16, `never more than the largest window ahead (${w2[0]}..${w2.at(-1)})`);
  t.ok(w2.length > 8, 'the window grew');
  // Reads in flight together (kernel read-ahead through FUSE) finish out of order.
  const ooo = new Readahead({ min: 4, max: 16 });
  ooo.onRead('h', 10, 10, 100);
  t.same(ooo.onRead('h', 12, 12, 100), [], 'a read past what was asked for is a jump');
  const w3 = ooo.onRead('h', 13, 13, 100);
  t.ok(w3.length > 0, 'sequential again: a window is asked for');
  const asked = [...ooo.onRead('h', 15, 15, 100)];
  t.same(ooo.onRead('h', 14, 14, 100), [], 'a read finishing a little behind the last (out of order) does not start over');
  for (let i = 16; i < 40; i++) asked.push(...ooo.onRead('h', i, i, 100));
  t.equal(asked[0], w3.at(-1)! + 1, 'the next window starts where the last ended, the state kept');
  t.ok(asked.every((x, i) => i === 0 || x === asked[i - 1]! + 1), 'nothing asked twice, no gap');
  t.same(ra.onRead('g', 98, 98, 100), [], 'another file has its own state');
  t.same(ra.onRead('g', 99, 99, 100), [], 'nothing past the end of the file');
});

t.test('read-ahead is bounded: topped up each quarter of the window, never more than the window ahead, nothing once the reads stop', async (t) => {
  const max = 64;
  const ra = new Readahead({ min: 4, max });
  const count = 100_000; // a huge file
  const asked = new Set<number>();
  let requests = 0;
  let last = -1;
  let twice = 0;
  let mostAhead = 0;
  for (let i = 0; i < 2000; i++) {
    const got = ra.onRead('big', i, i, count);
    if (got.length > 0) requests++;
    for (const x of got) {
      if (asked.has(x)) twice++;
      asked.add(x);
      last = Math.max(last, x);
    }
    mostAhead = Math.max(mostAhead, last - i);
  }
  t.equal(twice, 0, 'no block asked twice');
  t.ok(mostAhead <= max, `never more than the window ahead of the reads (at most ${mostAhead})`);
  t.ok(last - 1999 > max / 2, `at the largest window, more than half of it is ahead of the reads (${last - 1999})`);
  t.ok(requests > 2000 / max, `topped up often (${requests} requests), not one whole window at a time`);
  t.ok(asked.size <= 2000 + max, `the reads stopped: at most one window past them was asked for (${asked.size - 2000})`);
  const one = new Readahead({ min: 4, max });
  t.same(one.onRead('huge', 5000, 5000, count), [], 'one 4 KiB read of a huge file: nothing ahead');
  t.same(one.onRead('huge', 70_000, 70_000, count), [], 'another read far away: nothing ahead');
});

t.test('cache sizes', async (t) => {
  t.equal(parseSize('10G'), 10 * 1024 ** 3);
  t.equal(parseSize('512M'), 512 * 1024 ** 2);
  t.equal(parseSize('1.5k'), 1536);
  t.equal(parseSize('10GiB'), 10 * 1024 ** 3);
  t.equal(parseSize('4096'), 4096);
  t.throws(() => parseSize('ten'), PlacementError);
  t.throws(() => parseSize('-1G'), PlacementError);
});

t.test('the fetcher: no source fails at once, a silent one times out, others fill in, one request per turn', async (t) => {
  const h = (n: number): Buffer => Buffer.alloc(32, n);
  const data = (n: number): Buffer => Buffer.alloc(BLOCK_SIZE, n);
  let requests: Buffer[][] = [];
  const source = (peer: string, has: number[], delayMs = 0): BlockSource => ({
    peer,
    async request(hashes) {
      requests.push([...hashes]);
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return new Map(hashes.filter((x) => has.includes(x[0]!)).map((x) => [x.toString('hex'), data(x[0]!)] as const));
    },
  });
  // A deadline far beyond the bound below: failing within it means not waiting for the deadline.
  const f = new Fetcher({ timeoutMs: () => 10_000 });
  let start = Date.now();
  await t.rejects(f.fetchOne(h(1)), { code: 'UNAVAILABLE' }, 'no source: UNAVAILABLE');
  t.ok(Date.now() - start < 2000, 'at once, not at the deadline');

  f.addSource(source('a'.repeat(64), [1, 2]));
  f.addSource(source('c'.repeat(64), [3]));
  const [one, two] = await Promise.all([f.fetchOne(h(1)), f.fetchOne(h(2))]);
  t.ok(one.equals(data(1)) && two.equals(data(2)), 'blocks come');
  t.equal(requests.length, 1, 'two blocks asked for in one turn: one request');
  requests = [];
  const three = await f.fetchOne(h(3));
  t.ok(three.equals(data(3)), 'a block the first source lacks comes from the next');
  t.equal(requests.length, 2, 'both sources were asked');
  await t.rejects(f.fetchOne(h(9)), { code: 'UNAVAILABLE' }, 'a block nobody has: UNAVAILABLE');
  const many = await f.fetchMany([h(1), h(3), h(9)]);
  t.same([...many.got.keys()].sort(), [h(1).toString('hex'), h(3).toString('hex')].sort(), 'fetchMany gives what came');
  t.same([...many.failed.keys()], [h(9).toString('hex')], 'and says what did not');

  const slow = new Fetcher({ timeoutMs: () => 150 });
  slow.addSource(source('d'.repeat(64), [5], 600));
  start = Date.now();
  await t.rejects(slow.fetchOne(h(5)), { code: 'TIMEOUT' }, 'a source that does not answer: TIMEOUT');
  const took = Date.now() - start;
  t.ok(took >= 140 && took < 1000, `after the deadline (${took} ms)`);
  f.close();
  slow.close();
});
