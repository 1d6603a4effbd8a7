/**
 * Log shipping between peers on 127.0.0.1: entries and blocks reach the other side, verified
 * and applied; relay through a third peer; live pushes after catch-up; a deaf peer receives
 * and serves over the connection it opened; a one-byte edit of a large file ships one block;
 * acknowledgements are recorded and persisted.
 */
import t from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { Acks, SyncState } from '../../engine/sync/index.js';
import { content } from '../engine/helpers/env.js';
import { area, follow, household, lengths, makePeer, readFile, syncOnce, until, writeFile } from './helpers/peers.js';

t.test('two peers: an area, a file and its blocks reach the other side', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  await household(a, b);
  await area(a, 'home');
  await writeFile(a, '/home/hello.txt', Buffer.from('hello, world\n'));
  const big = content('big', 3 * BLOCK_SIZE + 17);
  await writeFile(a, '/home/big.bin', big);
  await follow(b, 'home');
  await b.start();
  const stats = await syncOnce(a, b); // a is deaf: it dials, and sends over its own connection
  t.ok(stats.entriesOut > 0, `a sent ${stats.entriesOut} entries`);
  t.equal(stats.blocksOut, 5, 'a served the 5 blocks (4 of big.bin, 1 of hello.txt)');
  t.same(lengths(b)[`${a.key}.home`], lengths(a)[`${a.key}.home`], "b holds all of a's home feed");
  t.equal((await readFile(b, '/home/hello.txt')).toString(), 'hello, world\n', 'the small file reads the same');
  t.ok((await readFile(b, '/home/big.bin')).equals(big), 'the big file reads the same');
  t.same(a.logs, [], `nothing went wrong on a: ${a.logs.join('\n')}`);
  t.same(b.logs, [], `nothing went wrong on b: ${b.logs.join('\n')}`);

  // Acknowledgements: b told a what it holds; a keeps it in its store.
  const state = await SyncState.open(a.root);
  const acks = new Acks(state);
  t.equal(acks.held(b.key, `${a.key}.home`), lengths(a)[`${a.key}.home`], "a's store records that b holds all of a's home feed");
  t.same(acks.follows(b.key), ['home'], 'and that b follows home');
  t.equal(acks.consensus(`${a.key}.home`, [b.key], lengths(a)[`${a.key}.home`]!), lengths(a)[`${a.key}.home`], 'consensus: every follower holds it all');

  // A deaf dialer also receives: b writes, a syncs again.
  await writeFile(b, '/home/from-b.txt', Buffer.from('from b'));
  const again = await syncOnce(a, b);
  t.ok(again.entriesIn > 0, 'the deaf peer received over its own connection');
  t.equal((await readFile(a, '/home/from-b.txt')).toString(), 'from b');
  const third = await syncOnce(a, b);
  t.equal(third.entriesIn + third.entriesOut + third.blocksIn + third.blocksOut, 0, 'in sync: a third sync ships nothing');
});

t.test('blocks with their records\' CRCs (BLOCKS_CRC) to a peer that takes them, plain BLOCKS to one from before them; both store sound records', async (t) => {
  for (const old of [false, true]) {
    const a = await makePeer(t, 'a');
    const b = await makePeer(t, 'b');
    await household(a, b);
    await area(a, 'home');
    const big = content(`crc-${old}`, 3 * BLOCK_SIZE + 17);
    await writeFile(a, '/home/big.bin', big);
    await follow(b, 'home');
    await a.start();
    await b.start({ deaf: true, ...(old ? { blockCrcs: false } : {}) });
    const stats = await syncOnce(b, a); // b dials: these are b's figures
    t.equal(stats.blocksIn, 4, 'b received the 4 blocks');
    t.equal(stats.blocksInWithCrc, old ? 0 : 4, old ? 'a peer from before BLOCKS_CRC is sent BLOCKS' : 'with their records\' CRCs');
    await b.restart(); // reads after a reopen check each record's CRC
    t.ok((await readFile(b, '/home/big.bin')).equals(big), "the file reads the same from b's packs (the CRCs hold)");
    t.same(b.logs, [], 'nothing went wrong on b');
  }
});

t.test('relay: A\'s entries reach C through B', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  const c = await makePeer(t, 'c');
  await household(a, b, c);
  await area(a, 'docs');
  await follow(b, 'docs');
  await follow(c, 'docs');
  const data = content('relay', BLOCK_SIZE + 5);
  await writeFile(a, '/docs/r.bin', data);
  await b.start();
  await syncOnce(a, b);
  await c.start({ deaf: true });
  await syncOnce(c, b);
  t.equal(lengths(c)[`${a.key}.docs`], lengths(a)[`${a.key}.docs`], "c holds a's feed, never having met a");
  t.ok((await readFile(c, '/docs/r.bin')).equals(data), 'and its content');
});

t.test('live: after catch-up, new entries are pushed as they are appended', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  await household(a, b);
  await area(a, 'live');
  await follow(b, 'live');
  await b.start();
  const { addPeer } = await import('../../engine/sync/index.js');
  await addPeer(a.engine, 'b', b.key, b.address); // a learns b's address: serve dials it
  await a.start({ deaf: true, dial: true });
  await until(() => a.node!.sessions.has(b.key) && b.node!.sessions.has(a.key), 5000, 'a live connection');
  for (let i = 0; i < 5; i++) {
    await writeFile(a, `/live/f${i}`, Buffer.from(`file ${i}`));
    await until(() => b.engine.lookup(`/live/f${i}`) !== undefined, 5000, `f${i} on b`);
    await until(async () => (await readFile(b, `/live/f${i}`).catch(() => Buffer.alloc(0))).toString() === `file ${i}`, 5000, `f${i}'s content on b`);
  }
  t.pass('five files pushed one by one');
  // and the other way, over the same connection
  await writeFile(b, '/live/back', Buffer.from('back'));
  await until(async () => (await readFile(a, '/live/back').catch(() => Buffer.alloc(0))).toString() === 'back', 5000, 'back on a');
  t.equal(a.node!.sessions.size, 1, 'one connection');
  t.same([...a.logs, ...b.logs], [], 'no errors');
});

t.test('a one-byte edit of a large file ships one block', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  await household(a, b);
  await area(a, 'big');
  await follow(b, 'big');
  const data = content('large', 40 * BLOCK_SIZE);
  await writeFile(a, '/big/file', data);
  await b.start();
  const first = await syncOnce(a, b);
  t.equal(first.blocksOut, 40, '40 blocks the first time');
  const id = a.engine.stat('/big/file').id;
  await a.engine.write(id, 20 * BLOCK_SIZE + 7, Buffer.from([data[20 * BLOCK_SIZE + 7]! ^ 0xff]));
  await a.engine.commit(id);
  const second = await syncOnce(a, b);
  t.equal(second.blocksOut, 1, 'one block after a one-byte edit');
  t.ok(second.blockBytesOut <= BLOCK_SIZE, `${second.blockBytesOut} block bytes`);
  t.ok(a.node!.sessions.size === 0, 'the one-shot connection is closed');
  const expect = Buffer.from(data);
  expect[20 * BLOCK_SIZE + 7] ^= 0xff;
  t.ok((await readFile(b, '/big/file')).equals(expect), 'b reads the edited file');
});
