/**
 * Unreal content read through B's engine, over loopback: the metadata came with sync, no
 * block did; a read fetches the blocks it touches (and only those), checks them, serves them
 * and keeps them; a sequential read streams the whole file with read-ahead; sync asks for
 * the blocks of Real files only.
 */
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { EngineError } from '../../engine/index.js';
import { recordCrcOf } from '../../engine/block-pack.js';
import { markPath, placementOf } from '../../engine/placement/index.js';
import { until, writeFile } from '../sync/helpers/peers.js';
import { content } from '../engine/helpers/env.js';
import { bigFile, connected, presence, readAt, unrealPair } from './helpers/pair.js';

t.test('an Unreal file reads correctly, fetching only the blocks a read touches', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const data = await bigFile(pair, '/home/big.bin', 40);
  await connected(pair);
  const id = b.engine.stat('/home/big.bin').id;
  t.equal(placementOf(b.engine.projections, b.key, id).placement, 'unreal', 'unreal on b, inherited from /home');
  t.equal(placementOf(a.engine.projections, a.key, id).placement, 'real', "b's mark does not change a's placement");
  t.same(presence(b, '/home/big.bin').heldBlocks, 0, 'sync brought the metadata and no block');
  t.equal(b.engine.stat('/home/big.bin').size, data.byteLength, 'stat shows the whole size');

  const first = await readAt(b, '/home/big.bin', 0, 4096);
  t.ok(first.equals(data.subarray(0, 4096)), 'the first 4 KiB read right');
  t.equal(presence(b, '/home/big.bin').heldBlocks, 1, 'one block came for it');

  const mid = 20 * BLOCK_SIZE - 100;
  const span = await readAt(b, '/home/big.bin', mid, 300);
  t.ok(span.equals(data.subarray(mid, mid + 300)), 'a read across two blocks in the middle reads right');
  t.equal(presence(b, '/home/big.bin').heldBlocks, 3, 'the two blocks it touched came, nothing else');

  const again = await readAt(b, '/home/big.bin', 0, 4096);
  t.ok(again.equals(first), 'read again: from the cache');
  t.equal(b.engine.placement!.fetcher.stats.blocks, 3, 'three blocks fetched in all');
  await b.engine.placement!.cache.flush();
  t.ok(b.engine.projections.cache.has(b.engine.projections.content.row(id)!.blocks.subarray(0, 32)), 'the fetched block is in the cache table');

  // A sequential read of the whole file: read-ahead keeps the blocks coming.
  const out: Buffer[] = [];
  for (let off = 0; off < data.byteLength; off += BLOCK_SIZE) out.push(await readAt(b, '/home/big.bin', off, BLOCK_SIZE));
  t.ok(Buffer.concat(out).equals(data), 'the whole file streams right');
  t.equal(presence(b, '/home/big.bin').presence, 'all', 'and is all here now');
  // a notes what it served in batches; a cache check sees every block b holds from it.
  await a.engine.placement!.enforce();
  const blocks = b.engine.projections.content.row(id)!.blocks;
  const servedTo = Array.from({ length: blocks.byteLength / 32 }, (_, i) => a.engine.projections.served.peers(blocks.subarray(i * 32, i * 32 + 32)));
  t.ok(servedTo.every((peers) => peers.includes(b.key)), 'a noted every block it served to b');
  t.same(a.logs, [], `nothing went wrong on a: ${a.logs.join('\n')}`);
  t.same(b.logs, [], `nothing went wrong on b: ${b.logs.join('\n')}`);
});

t.test('sync asks for the blocks of Real files only; a write to an Unreal file reads what it keeps', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  await until(() => a.engine.lookup('/home') !== undefined, 10_000, '/home on a');
  await a.engine.run({ type: 'mkdir', path: '/home/keep', mode: 0o755, owner: { uid: 0, gid: 0 } });
  await until(() => b.engine.lookup('/home/keep') !== undefined, 10_000, '/home/keep on b');
  await markPath(b.engine, '/home/keep', 'real');
  const kept = await bigFile(pair, '/home/keep/k.bin', 6);
  const lazy = await bigFile(pair, '/home/lazy.bin', 6);
  await until(() => presence(b, '/home/keep/k.bin').presence === 'all', 10_000, 'the Real file complete on b');
  t.equal(presence(b, '/home/lazy.bin').heldBlocks, 0, 'the Unreal file: no block');
  t.ok((await readAt(b, '/home/keep/k.bin', 0, kept.byteLength)).equals(kept), 'the Real file reads from here');

  // A partial write to an Unreal block reads the rest of the block first (fetched).
  await connected(pair);
  const id = b.engine.stat('/home/lazy.bin').id;
  await b.engine.write(id, 10, Buffer.from('hello'));
  await b.engine.commit(id);
  const want = Buffer.from(lazy);
  want.write('hello', 10);
  t.ok((await readAt(b, '/home/lazy.bin', 0, BLOCK_SIZE)).equals(want.subarray(0, BLOCK_SIZE)), 'the edited block reads right');
  await until(async () => (await readAt(a, '/home/lazy.bin', 0, 64)).equals(want.subarray(0, 64)), 10_000, "b's edit on a");

  // A new file written on b in the Unreal area is held whole on b (it was written here).
  const mine = content('mine', 3 * BLOCK_SIZE);
  await writeFile(b, '/home/mine.bin', mine);
  t.equal(presence(b, '/home/mine.bin').presence, 'all', 'content written here is here');
  await until(() => a.engine.lookup('/home/mine.bin') !== undefined && presence(a, '/home/mine.bin').presence === 'all', 10_000, "b's new file complete on a (Real there)");
});

t.test('a block damaged on the serving peer\'s disk is not taken (its CRC, sent unchecked, does not match it): the read fails, the connection stays', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const data = await bigFile(pair, '/home/rot.bin', 3);
  await connected(pair);
  await a.engine.blocks.sync();
  // Flip one byte of the second block's payload in A's pack (found by its content).
  const dir = a.engine.blocks.dir;
  const packs = (await readdir(dir)).filter((n) => n.startsWith('pack-'));
  const probe = data.subarray(BLOCK_SIZE, BLOCK_SIZE + 64);
  let damaged = false;
  for (const name of packs) {
    const bytes = await readFile(join(dir, name));
    const at = bytes.indexOf(probe);
    if (at < 0) continue;
    const fh = await open(join(dir, name), 'r+');
    await fh.write(Buffer.from([bytes[at + 1000]! ^ 0xff]), 0, 1, at + 1000);
    await fh.close();
    damaged = true;
  }
  t.ok(damaged, "the block's record was found and damaged in a's pack");

  const first = await readAt(b, '/home/rot.bin', 0, 100);
  t.ok(first.equals(data.subarray(0, 100)), 'an undamaged block reads right');
  const err = await readAt(b, '/home/rot.bin', BLOCK_SIZE, 100).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof EngineError && err.code === 'BLOCK_MISSING', `the read of the damaged block fails (EIO on the mount): ${(err as Error | null)?.message}`);
  t.equal(presence(b, '/home/rot.bin').heldBlocks, 1, 'only the undamaged block is kept');
  const third = await readAt(b, '/home/rot.bin', 2 * BLOCK_SIZE, 100);
  t.ok(third.equals(data.subarray(2 * BLOCK_SIZE, 2 * BLOCK_SIZE + 100)), 'the next block reads right over the same connection');
  t.same(b.logs, [], `no connection was dropped: a answered that it does not have the block (${b.logs.join('; ')})`);
  const own = await readAt(a, '/home/rot.bin', BLOCK_SIZE, 100).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(own instanceof EngineError && own.code === 'BLOCK_CORRUPT', `a's own read of it finds the damage by its CRC: ${(own as Error | null)?.message}`);
});

t.test('a damaged block in the middle of a stream (read ahead in messages hashed where they are opened) is taken as not there; the stream reads on', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const data = await bigFile(pair, '/home/stream.bin', 24);
  await connected(pair);
  await a.engine.blocks.sync();
  const dir = a.engine.blocks.dir;
  const probe = data.subarray(17 * BLOCK_SIZE, 17 * BLOCK_SIZE + 64);
  let damaged = false;
  for (const name of (await readdir(dir)).filter((n) => n.startsWith('pack-'))) {
    const bytes = await readFile(join(dir, name));
    const at = bytes.indexOf(probe);
    if (at < 0) continue;
    const fh = await open(join(dir, name), 'r+');
    await fh.write(Buffer.from([bytes[at + 2000]! ^ 0xff]), 0, 1, at + 2000);
    await fh.close();
    damaged = true;
  }
  t.ok(damaged, "block 17's record was found and damaged in a's pack");
  const failed: number[] = [];
  for (let i = 0; i < 24; i++) {
    const got = await readAt(b, '/home/stream.bin', i * BLOCK_SIZE, BLOCK_SIZE).then(
      (d) => d,
      (e: unknown) => e,
    );
    if (got instanceof EngineError && got.code === 'BLOCK_MISSING') failed.push(i);
    else t.ok(Buffer.isBuffer(got) && got.equals(data.subarray(i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE)), `block ${i} reads right`);
  }
  t.same(failed, [17], 'only the damaged block fails (EIO on the mount)');
  t.same(b.logs, [], 'no connection was dropped');
  const stats = b.node!.sessions.get(a.key)!.stats;
  t.ok(stats.blocksInHashedOpened > 0, `blocks read ahead were hashed where their messages were opened (${stats.blocksInHashedOpened} of ${stats.blocksIn})`);
});

t.test('a block that does not match its hash is refused: the read fails, nothing wrong is served or kept', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const data = await bigFile(pair, '/home/f.bin', 4);
  await connected(pair);
  // A serves blocks by readRuns (a batch's records read together) and get (one by one): both lie.
  const get = a.engine.blocks.get.bind(a.engine.blocks);
  const readRuns = a.engine.blocks.readRuns.bind(a.engine.blocks);
  a.engine.blocks.get = async (hash: Uint8Array) => {
    const d = Buffer.from(await get(hash));
    d[7] ^= 0xff;
    return d;
  };
  a.engine.blocks.readRuns = async (...args: Parameters<typeof readRuns>) => {
    const got = await readRuns(...args);
    for (const d of new Set(got)) if (d !== null) d[7]! ^= 0xff;
    // A forger's CRCs match the bytes it sends (else b takes each for one damaged on a's disk, as not there).
    const [hashes, , crcs] = args;
    got.forEach((d, i) => d !== null && crcs !== undefined && (crcs[i] = recordCrcOf(hashes[i]!, d)));
    return got;
  };
  const err = await readAt(b, '/home/f.bin', 0, 100).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof EngineError && err.code === 'BLOCK_MISSING', `the read fails (EIO on the mount): ${(err as Error | null)?.message}`);
  t.equal(presence(b, '/home/f.bin').heldBlocks, 0, 'the file has no block here');
  // The waiting read is failed before the session ends on the error and logs it.
  await until(() => /does not match its hash/.test(b.logs.join('\n')), 10_000, 'the refusal in b\'s log');
  t.match(b.logs.join('\n'), /does not match its hash/, 'b dropped the connection that sent it');

  a.engine.blocks.get = get;
  a.engine.blocks.readRuns = readRuns;
  await connected(pair);
  t.ok((await readAt(b, '/home/f.bin', 0, data.byteLength)).equals(data), 'from an honest peer it reads right');
});
