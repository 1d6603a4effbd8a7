/**
 * The cache budget on B: eviction brings the evictable bytes under the budget, least
 * recently read first, and never touches pinned (Real) content, content written here that a
 * follower has not acknowledged, or content no other peer is known to keep. Once A holds B's
 * new content (acknowledged and fetched), it may go. When the disk runs short, the cache
 * shrinks for Real content.
 */
import t from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { markPath } from '../../engine/placement/index.js';
import { content } from '../engine/helpers/env.js';
import { until, writeFile } from '../sync/helpers/peers.js';
import { bigFile, connected, presence, readAt, unrealPair } from './helpers/pair.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('eviction: under budget, LRU, never pinned or unacknowledged content', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const svc = b.engine.placement!;
  await a.engine.run({ type: 'mkdir', path: '/home/keep', mode: 0o755, owner: { uid: 0, gid: 0 } });
  await until(() => b.engine.lookup('/home/keep') !== undefined, 10_000, '/home/keep on b');
  await markPath(b.engine, '/home/keep', 'real');
  const kept = await bigFile(pair, '/home/keep/k.bin', 4);
  const data = await bigFile(pair, '/home/big.bin', 20);
  await until(() => presence(b, '/home/keep/k.bin').presence === 'all', 10_000, 'the Real file complete on b');
  await connected(pair);

  // Read all of big.bin (cached), then its first five blocks again, later.
  for (let i = 0; i <= 20; i++) await readAt(b, '/home/big.bin', i * BLOCK_SIZE, 10);
  await sleep(20);
  for (let i = 0; i < 5; i++) await readAt(b, '/home/big.bin', i * BLOCK_SIZE, 10);
  t.equal(presence(b, '/home/big.bin').presence, 'all', 'big.bin is all cached');

  // New content written on b while a cannot acknowledge it.
  await b.stop();
  const mine = content('mine', 3 * BLOCK_SIZE);
  await writeFile(b, '/home/mine.bin', mine);

  const budget = 8 * BLOCK_SIZE;
  svc.configure({ settings: { sizeBytes: budget } });
  const r = await svc.enforce();
  t.ok(r.usage > budget, `the cache was over budget (${r.usage} > ${budget})`);
  t.ok(r.after <= budget, `and is under it after (${r.after})`);
  t.ok(r.evictedBlocks >= 13, `blocks were evicted (${r.evictedBlocks})`);
  t.ok(r.protectedBy.unacked >= 3 * BLOCK_SIZE, `the unacknowledged new file is kept (${r.protectedBy.unacked} bytes)`);
  t.equal(presence(b, '/home/keep/k.bin').presence, 'all', 'the Real file is untouched (pinned)');
  t.equal(presence(b, '/home/mine.bin').presence, 'all', 'the unacknowledged new file is untouched');
  const row = b.engine.projections.content.row(b.engine.stat('/home/big.bin').id)!;
  const held = (i: number): boolean => b.engine.blocks.has(row.blocks.subarray(i * 32, i * 32 + 32));
  t.ok([0, 1, 2, 3, 4].every(held), 'the five most recently read blocks stay');
  t.equal(presence(b, '/home/big.bin').heldBlocks, [...Array(21).keys()].filter(held).length, 'presence agrees with the store');
  t.ok(presence(b, '/home/big.bin').heldBlocks < 21, 'the least recently read went');

  // a acknowledges and fetches b's new file (a keeps it Real): then it may be evicted on b.
  await b.start({ deaf: true, dial: true });
  await connected(pair);
  await until(() => a.engine.lookup('/home/mine.bin') !== undefined && presence(a, '/home/mine.bin').presence === 'all', 10_000, "b's new file complete on a");
  svc.configure({ settings: { sizeBytes: 0 } });
  await until(async () => (await svc.enforce()).protectedBy.unacked === 0 && presence(b, '/home/mine.bin').heldBlocks === 0, 10_000, 'the new file evictable once a holds it');
  t.equal(presence(b, '/home/keep/k.bin').presence, 'all', 'the Real file still untouched at budget 0');
  t.ok((await readAt(b, '/home/keep/k.bin', 0, kept.byteLength)).equals(kept), 'and reads from here');
  t.equal(presence(b, '/home/big.bin').heldBlocks, 0, 'every cached block of big.bin went at budget 0');
  t.ok((await readAt(b, '/home/mine.bin', 0, mine.byteLength)).equals(mine), 'the evicted file reads again (fetched back)');
  t.ok((await readAt(b, '/home/big.bin', 0, data.byteLength)).equals(data), 'and so does big.bin');
});

t.test('content no other peer keeps stays; a short disk shrinks the cache (Real wins)', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const svc = b.engine.placement!;
  const lone = await bigFile(pair, '/home/lone.bin', 4);
  const other = await bigFile(pair, '/home/other.bin', 8);
  await connected(pair);
  await readAt(b, '/home/lone.bin', 0, lone.byteLength);
  await readAt(b, '/home/other.bin', 0, other.byteLength);
  // a makes lone.bin Unreal for itself: no peer is known to keep it Real any more.
  await until(() => a.engine.lookup('/home/lone.bin') !== undefined, 5000, 'lone on a');
  await markPath(a.engine, '/home/lone.bin', 'unreal');
  await until(() => b.engine.projections.placements.mark(a.key, b.engine.stat('/home/lone.bin').id) === 'unreal', 10_000, "a's mark on b");

  svc.configure({ settings: { sizeBytes: 1024 ** 3, reserveBytes: 64 * 1024 * 1024 } });
  const roomy = await svc.enforce();
  t.equal(roomy.evictedBlocks, 0, 'under budget with a roomy disk: nothing evicted');
  // The disk is 5 blocks short of the reserve kept for Real content.
  svc.configure({ disk: async () => ({ free: 64 * 1024 * 1024 - 5 * BLOCK_SIZE, total: 1024 ** 4 }) });
  const short = await svc.enforce();
  t.ok(short.budget < short.sizeBytes, `the budget shrank (${short.budget} < ${short.sizeBytes})`);
  t.ok(short.evictedBytes >= 5 * BLOCK_SIZE, `at least the 5 blocks short were evicted (${short.evictedBytes})`);
  t.equal(presence(b, '/home/lone.bin').presence, 'all', 'the file no other peer keeps stays');
  t.ok(short.protectedBy['only-copy'] >= 4 * BLOCK_SIZE, 'counted as the only known copy');
});
