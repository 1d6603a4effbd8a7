import t, { type Test } from 'tap';
import { appendFile, open as openFile, readdir, readFile, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { BlockIndex, type BlockLocation } from '../../projections/block-index.js';
import { BLOCK_SIZE as FORMAT_BLOCK_SIZE, ZERO_BLOCK } from '../../log/index.js';
import { BLOCK_SIZE, BlockStore, blockBuffers, type BlockStoreOptions, type GcStep } from '../../engine/block-store.js';
import { BufferPool } from '../../engine/block-files.js';
import { PACK_HEADER_BYTES, RECORD_HEADER_BYTES, packFileName, recordCrcOf, sha256 } from '../../engine/block-pack.js';
import { EngineError } from '../../engine/engine-error.js';

const BS = 64 * 1024;

/** xorshift32: deterministic bytes for a seed. */
function rng(seed: number): (n: number) => Buffer {
  let s = seed >>> 0 || 1;
  return (n) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      s >>>= 0;
      if (i + 4 <= n) b.writeUInt32LE(s, i);
      else for (let k = 0; i + k < n; k++) b[i + k] = (s >>> (8 * k)) & 255;
    }
    return b;
  };
}

/** Compressible text-like content. */
function text(seed: number, n: number): Buffer {
  const words = ['block', 'store', 'pack', 'record', 'hash', 'index', 'realize', 'fuse', 'log', 'event'];
  const r = rng(seed);
  let s = '';
  while (s.length < n) s += words[r(1)[0]! % words.length] + ' ';
  return Buffer.from(s.slice(0, n));
}

interface Env {
  dir: string;
  env: RootDatabase;
  index: BlockIndex;
  open(opts?: BlockStoreOptions): Promise<BlockStore>;
  close(): Promise<void>;
  /** Replaces the LMDB environment by a fresh, empty one (the index was lost). */
  loseIndex(): Promise<void>;
}

let envCount = 0;
function setup(t: Test): Env {
  const root = t.testdir();
  const dir = join(root, 'blocks');
  const e: Env = {
    dir,
    env: openLmdb({ path: join(root, `lmdb-${envCount++}`), noSync: true }),
    index: undefined as unknown as BlockIndex,
    open: (opts = {}) => BlockStore.open(dir, e.index, { blockSize: BS, ...opts }),
    close: async () => {
      await e.env.close();
    },
    loseIndex: async () => {
      await e.env.close();
      e.env = openLmdb({ path: join(root, `lmdb-${envCount++}`), noSync: true });
      e.index = new BlockIndex(e.env);
    },
  };
  e.index = new BlockIndex(e.env);
  t.teardown(() => e.close());
  return e;
}

function entries(index: BlockIndex): [string, BlockLocation][] {
  return [...index.entries()].map(([k, v]) => [k.toString('hex'), { pack: v.pack, offset: v.offset, stored: v.stored, size: v.size, codec: v.codec }] as [string, BlockLocation]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

async function rejectsCode(t: Test, p: Promise<unknown>, code: string, includes: string[] = []): Promise<void> {
  try {
    await p;
    t.fail(`expected ${code}`);
  } catch (err) {
    t.ok(err instanceof EngineError, 'an EngineError');
    t.equal((err as EngineError).code, code, (err as Error).message);
    for (const s of includes) t.match((err as Error).message, s, `the message names ${s}`);
  }
}

async function packFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('pack-')).sort();
}

t.test('an empty block whose view has its ArrayBuffer made (zlib crc32 of a null buffer is 0) keeps a true CRC', async (t) => {
  const e = setup(t);
  const s = await e.open();
  const empty = Buffer.alloc(0);
  void empty.buffer; // V8 now gives it a backing store with a null data pointer
  const [h] = await s.putMany([empty]);
  await s.sync();
  await s.close();
  const s2 = await e.open();
  t.same(Buffer.from(await s2.get(h!)), empty, 'reads back after reopen: its CRC holds');
  await s2.close();
});

t.test('pool blocks (shared memory) are hashed in the worker: the same hashes, readable, sound after reopen', async (t) => {
  const e = setup(t);
  const s = await e.open();
  const r = rng(9);
  const src = [r(BS), r(BS), r(BS - 5), r(BS)];
  const blocks = src.map((b) => {
    const p = blockBuffers.take().subarray(0, b.byteLength);
    b.copy(p);
    return p;
  });
  t.ok(blocks.every((b) => b.buffer instanceof SharedArrayBuffer), 'the pool hands out shared memory');
  const hashes = await s.putMany(blocks, { owned: true });
  src.forEach((b, i) => t.same(Buffer.from(hashes[i]!), sha256(b), `block ${i}: its SHA-256`));
  for (const [i, b] of src.entries()) t.same(Buffer.from(await s.get(hashes[i]!)), b, `block ${i} reads back`);
  await s.sync();
  await s.close();
  const s2 = await e.open();
  for (const [i, b] of src.entries()) t.same(Buffer.from(await s2.get(hashes[i]!)), b, `block ${i} after reopen: its record's CRC holds`);
  await s2.close();
});

t.test('blocks staged `around` the page cache: packs that read back and reopen as any others, with a clean recovery', async (t) => {
  const e = setup(t);
  // Small packs, so the runs cross from one pack to the next, and a pack ends mid-run.
  const s = await e.open({ packBytes: 3 * 1024 * 1024 + 777 });
  const r = rng(21);
  const src: Buffer[] = [];
  const hashes: Uint8Array[] = [];
  for (let round = 0; round < 6; round++) {
    // Large batches written around (more than the 1 MiB that makes a run go O_DIRECT), a
    // short block among them, and ordinary blocks between the batches.
    const batch = Array.from({ length: 24 }, (_, i) => r(i === 5 ? BS - 333 : BS));
    const views = batch.map((b) => {
      const p = blockBuffers.take().subarray(0, b.byteLength);
      b.copy(p);
      return p;
    });
    const staged = await s.stageMany(views, { owned: true, around: true });
    await staged.written;
    src.push(...batch);
    hashes.push(...staged.hashes);
    const plain = [r(1000 + round), r(BS)];
    src.push(...plain);
    hashes.push(...(await s.putMany(plain)));
    if (round === 2) await s.sync();
  }
  for (const [i, b] of src.entries()) t.same(Buffer.from(await s.get(hashes[i]!)), b, `block ${i} reads back`);
  await s.sync();
  await s.close();
  const s2 = await e.open();
  t.same(s2.recovery.tornTails, [], 'no torn tail: each pack ends with its last record');
  t.same(s2.recovery.badRegions, []);
  for (const [i, b] of src.entries()) t.same(Buffer.from(await s2.get(hashes[i]!)), b, `block ${i} after reopen`);
  t.equal(await s2.reindex(), src.length, 'a reindex finds every record, each whole');
  await s2.close();
});

t.test('round trip: put, get, getRange, has, ZERO_BLOCK, reopen', async (t) => {
  const e = setup(t);
  const s = await e.open();
  const r = rng(1);
  const blocks = [Buffer.alloc(0), r(1), r(1000), r(4096), r(BS - 1), r(BS)];
  const hashes = await s.putMany(blocks);
  for (const [i, b] of blocks.entries()) t.same(Buffer.from(hashes[i]!), sha256(b), `hash of block ${i} is its SHA-256`);
  const one = r(3000);
  const h1 = await s.put(one); // staged, not yet written: still readable
  t.same(Buffer.from(await s.get(h1)), one, 'a staged block reads back');
  for (const [i, b] of blocks.entries()) t.same(Buffer.from(await s.get(hashes[i]!)), b, `block ${i} reads back`);
  t.same(Buffer.from(await s.getRange(hashes[3]!, 100, 50)), blocks[3]!.subarray(100, 150), 'getRange is a slice');
  t.equal((await s.getRange(hashes[2]!, 900, 500)).byteLength, 100, 'getRange stops at the end of the content');
  t.ok(s.has(hashes[5]!), 'has');
  t.notOk(s.has(sha256(Buffer.from('never put'))), 'has not');

  const zero = await s.put(Buffer.alloc(BS));
  t.same(Buffer.from(zero), Buffer.from(ZERO_BLOCK), 'a full block of zeros is ZERO_BLOCK');
  t.same(Buffer.from(await s.get(ZERO_BLOCK)), Buffer.alloc(BS), 'ZERO_BLOCK reads as a block of zeros');
  t.same(Buffer.from(await s.getRange(ZERO_BLOCK, 10, 20)), Buffer.alloc(20), 'getRange of ZERO_BLOCK: the zeros asked for');
  t.ok(s.has(ZERO_BLOCK));
  const shortZero = await s.put(Buffer.alloc(100));
  t.same(Buffer.from(await s.get(shortZero)), Buffer.alloc(100), 'a short run of zeros is an ordinary block (exact round trip)');
  await rejectsCode(t, s.put(r(BS + 1)), 'BAD_ARGUMENT');
  t.equal(s.stats().blocks, 8);
  await s.sync();
  await s.close();
  await rejectsCode(t, s.get(hashes[1]!), 'IO', ['closed']);

  const s2 = await e.open();
  t.equal(s2.recovery.reindexed, 0, 'a clean reopen reindexes nothing');
  t.equal(s2.recovery.scannedBytes, 0, 'a clean reopen scans nothing');
  for (const [i, b] of blocks.entries()) t.same(Buffer.from(await s2.get(hashes[i]!)), b, `block ${i} after reopen`);
  t.same(Buffer.from(await s2.get(h1)), one);
  t.equal(s2.stats().blocks, 8, 'stats are rebuilt on open');
  await s2.close();
});

t.test('dedup: the same content is stored once', async (t) => {
  const e = setup(t);
  const s = await e.open();
  const r = rng(2);
  const a = r(BS);
  const b = r(5000);
  const [h1, h2, h3] = await s.putMany([a, b, a]);
  t.same(h1, h3, 'same content, same hash');
  await s.sync();
  const size1 = (await stat(join(e.dir, packFileName(1)))).size;
  t.equal(size1, PACK_HEADER_BYTES + 2 * RECORD_HEADER_BYTES + a.byteLength + b.byteLength, 'two records written');
  t.same(await s.put(Buffer.from(a)), h1, 'put again: same hash');
  t.same(await s.putMany([Buffer.from(b)]), [h2]);
  await s.sync();
  t.equal((await stat(join(e.dir, packFileName(1)))).size, size1, 'a put of content already held writes nothing');
  t.same(s.stats(), { blocks: 2, storedBytes: a.byteLength + b.byteLength, logicalBytes: a.byteLength + b.byteLength, packs: 1, fileBytes: size1 });
  await s.close();
});

t.test('compression: round trip, kept only when it saves, stats logical vs stored', async (t) => {
  const e = setup(t);
  const s = await e.open();
  const txt = text(3, BS);
  const rnd = rng(3)(BS);
  const [ht, hr] = await s.putMany([txt, rnd], { compress: true });
  const st = s.stats();
  t.equal(st.logicalBytes, 2 * BS);
  t.ok(st.storedBytes < BS + BS / 4, `text compressed: stored ${st.storedBytes} of logical ${st.logicalBytes}`);
  t.ok(st.storedBytes > BS, 'random content is kept raw');
  t.same(Buffer.from(await s.get(ht!)), txt);
  t.same(Buffer.from(await s.get(hr!)), rnd);
  await s.sync(); // staged blocks reach the pack, and the index, when written
  const codecs = entries(e.index).map(([, l]) => l.codec).sort();
  t.same(codecs, [0, 1], 'one raw record, one deflate-raw record');
  await s.close();
  const s2 = await e.open();
  t.same(s2.stats(), st, 'stats after reopen');
  t.same(Buffer.from(await s2.get(ht!)), txt, 'compressed block after reopen');
  await s2.close();
});

t.test('a torn pack tail is cut on reopen', async (t) => {
  const e = setup(t);
  const r = rng(4);
  const [a, b, c] = [r(BS), r(20_000), r(30_000)];
  let s = await e.open();
  const [ha, hb] = await s.putMany([a, b]);
  await s.sync();
  const goodEnd = (await stat(join(e.dir, packFileName(1)))).size;
  const hc = await s.put(c);
  await s.sync();
  await s.close();
  // A crash in the middle of the write of c: only part of it reached the disk.
  await truncate(join(e.dir, packFileName(1)), goodEnd + RECORD_HEADER_BYTES + 1000);
  s = await e.open();
  t.equal(s.recovery.tornTails.length, 1, 'the torn tail is reported');
  t.equal(s.recovery.tornTails[0]!.offset, goodEnd);
  t.equal((await stat(join(e.dir, packFileName(1)))).size, goodEnd, 'and cut');
  t.same(Buffer.from(await s.get(ha!)), a);
  t.same(Buffer.from(await s.get(hb!)), b);
  t.notOk(s.has(hc), 'the torn block is not served');
  await rejectsCode(t, s.get(hc), 'BLOCK_MISSING', [Buffer.from(hc).toString('hex')]);
  t.same(await s.put(c), hc, 'it can be put again');
  await s.close();

  // Garbage after the last sync (a write that never completed) is cut too.
  await appendFile(join(e.dir, packFileName(1)), rng(5)(777));
  s = await e.open();
  t.equal(s.recovery.tornTails.length, 1);
  t.equal(s.recovery.tornTails[0]!.bytes, 777);
  t.same(Buffer.from(await s.get(hc)), c);
  t.equal(s.stats().blocks, 3);
  await s.close();
});

t.test('an index that lost its last commits is completed from the pack on open', async (t) => {
  const e = setup(t);
  const r = rng(6);
  let s = await e.open();
  const [ha] = await s.putMany([r(9000)]);
  await s.sync();
  const before = entries(e.index);
  const hb = await s.put(r(7000));
  await s.sync();
  await s.close();
  // LMDB with noSync lost the commit of b in a power cut; the pack kept it.
  e.index.clear();
  e.index.putMany(before.map(([k, l]) => [Buffer.from(k, 'hex'), l] as const));
  s = await e.open();
  t.equal(s.recovery.reindexed, 1, 'the lost entry is found again');
  t.ok(s.has(ha!));
  t.ok(s.has(hb));
  await s.get(hb);
  await s.close();
});

t.test('a corrupted record is detected on read with a clear error', async (t) => {
  const e = setup(t);
  const r = rng(7);
  const s0 = await e.open();
  const [ha, hb, hc] = await s0.putMany([r(10_000), r(10_000)]).then(async (h) => [...h, (await s0.putMany([text(7, 20_000)], { compress: true }))[0]!]);
  await s0.close();
  const locB = e.index.get(hb!)!;
  const locC = e.index.get(hc!)!;
  const fh = await openFile(join(e.dir, packFileName(1)), 'r+');
  await fh.write(Buffer.from([0xff]), 0, 1, locB.offset + RECORD_HEADER_BYTES + 5000); // a payload byte
  await fh.write(Buffer.from([0x00, 0x00, 0x00]), 0, 3, locC.offset + RECORD_HEADER_BYTES + 10); // deflate stream
  await fh.close();
  const s = await e.open();
  await rejectsCode(t, s.get(hb!), 'BLOCK_CORRUPT', [Buffer.from(hb!).toString('hex'), 'pack-00000001.dat', `offset ${locB.offset}`]);
  await rejectsCode(t, s.get(hc!), 'BLOCK_CORRUPT', [Buffer.from(hc!).toString('hex'), `offset ${locC.offset}`]);
  t.ok((await s.get(ha!)).byteLength === 10_000, 'the other blocks still read');
  await s.close();
});

t.test('a missing block names its hash', async (t) => {
  const e = setup(t);
  const s = await e.open();
  const h = sha256(Buffer.from('absent'));
  await rejectsCode(t, s.get(h), 'BLOCK_MISSING', [h.toString('hex')]);
  await rejectsCode(t, s.getRange(h, 0, 10), 'BLOCK_MISSING');
  await s.close();
});

t.test('prefetch: a block read ahead is served from memory, once; absent and zero blocks are left alone', async (t) => {
  const e = setup(t);
  const r = rng(11);
  const a = r(BS);
  const s0 = await e.open();
  const [ha] = await s0.putMany([a]);
  await s0.close();
  const s = await e.open();
  s.prefetch(ha!);
  await s.aheadSettled();
  // The pack is damaged after the read ahead: the block still comes back whole, from memory.
  const loc = e.index.get(ha!)!;
  const fh = await openFile(join(e.dir, packFileName(loc.pack)), 'r+');
  await fh.write(Buffer.from([0xff ^ a[100]!]), 0, 1, loc.offset + RECORD_HEADER_BYTES + 100);
  await fh.close();
  t.same(await s.getRange(ha!, 0, BS), a, 'the read takes the block read ahead');
  // Taken once: the next read goes to the pack, and sees the damage.
  await rejectsCode(t, s.get(ha!), 'BLOCK_CORRUPT');
  s.prefetch(sha256(Buffer.from('absent')));
  s.prefetch(ZERO_BLOCK);
  await rejectsCode(t, s.get(sha256(Buffer.from('absent'))), 'BLOCK_MISSING');
  t.same(await s.get(ZERO_BLOCK), Buffer.alloc(BS), 'the zero block still reads as zeros');
  await s.close();
});

t.test('prefetch leaves alone the blocks heldElsewhere says reads find in memory', async (t) => {
  const e = setup(t);
  const r = rng(16);
  const a = r(BS);
  const b = r(BS);
  const s0 = await e.open();
  const [ha, hb] = await s0.putMany([a, b]);
  await s0.close();
  const s = await e.open();
  const held = new Set([Buffer.from(ha!).toString('hex')]);
  const asked: string[] = [];
  s.heldElsewhere((key) => {
    asked.push(key);
    return held.has(key);
  });
  s.prefetch(ha!);
  s.prefetch(hb!);
  await s.aheadSettled();
  t.same(asked.sort(), [Buffer.from(ha!).toString('hex'), Buffer.from(hb!).toString('hex')].sort(), 'both were asked about');
  // Damage both records: the block read ahead comes from memory, the one held elsewhere was not read ahead.
  for (const [h, d] of [[ha!, a], [hb!, b]] as const) {
    const loc = e.index.get(h)!;
    const fh = await openFile(join(e.dir, packFileName(loc.pack)), 'r+');
    await fh.write(Buffer.from([0xff ^ d[100]!]), 0, 1, loc.offset + RECORD_HEADER_BYTES + 100);
    await fh.close();
  }
  t.same(await s.getRange(hb!, 0, BS), b, 'the other block was read ahead');
  await rejectsCode(t, s.get(ha!), 'BLOCK_CORRUPT');
  s.heldElsewhere(null);
  await s.close();
});

t.test('reindex: after the index is lost it equals the old index', async (t) => {
  const e = setup(t);
  const r = rng(8);
  let s = await e.open({ packBytes: 200_000 });
  for (let i = 0; i < 5; i++) await s.putMany(Array.from({ length: 8 }, (_, k) => (k % 3 === 0 ? text(100 * i + k, 9000 + k) : r(4000 + 997 * k))), { compress: i % 2 === 0 });
  await s.sync();
  const old = entries(e.index);
  const oldStats = s.stats();
  t.ok(oldStats.packs > 1, `several packs (${oldStats.packs})`);
  e.index.clear();
  t.equal(await s.reindex(), old.length, 'reindex counts the blocks');
  t.same(entries(e.index), old, 'reindex() rebuilds the same index');
  t.same(s.stats(), oldStats);
  await s.close();

  await e.loseIndex();
  s = await e.open({ packBytes: 200_000 });
  t.equal(s.recovery.reindexed, old.length, 'open on an empty index rebuilds it from the packs');
  t.same(entries(e.index), old, 'the same index');
  t.same(s.stats(), oldStats);
  for (const [k] of old) await s.get(Buffer.from(k, 'hex'));
  await s.close();
});

async function fill(s: BlockStore, seed: number, n: number): Promise<{ hashes: Uint8Array[]; data: Map<string, Buffer> }> {
  const r = rng(seed);
  const data = new Map<string, Buffer>();
  const hashes: Uint8Array[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = Array.from({ length: Math.min(10, n - i) }, (_, k) => r(2000 + ((i + k) % 7) * 1500));
    const hs = await s.putMany(batch);
    hs.forEach((h, k) => {
      hashes.push(h);
      data.set(Buffer.from(h).toString('hex'), batch[k]!);
    });
  }
  await s.sync();
  return { hashes, data };
}

async function checkLive(t: Test, s: BlockStore, live: Uint8Array[], data: Map<string, Buffer>, what: string): Promise<void> {
  let ok = 0;
  for (const h of live) {
    const got = Buffer.from(await s.get(h));
    if (got.equals(data.get(Buffer.from(h).toString('hex'))!)) ok++;
  }
  t.equal(ok, live.length, `${what}: every live block reads back`);
}

t.test('gc frees dead blocks and keeps live ones, across reopen', async (t) => {
  const e = setup(t);
  const opts = { packBytes: 100_000 };
  let s = await e.open(opts);
  const { hashes, data } = await fill(s, 9, 120);
  const before = s.stats();
  const live = hashes.filter((_, i) => i % 4 === 0); // 3/4 dead: every pack is rewritten
  const dead = hashes.filter((_, i) => i % 4 !== 0);
  const liveSet = new Set(live.map((h) => Buffer.from(h).toString('hex')));
  const isLive = (h: Uint8Array): boolean => liveSet.has(Buffer.from(h).toString('hex'));
  const res = await s.gc(isLive);
  t.equal(res.freedBlocks, dead.length, 'every dead block is dropped');
  t.ok(res.packsRewritten >= before.packs - 1, `packs rewritten: ${res.packsRewritten} of ${before.packs}`);
  t.ok(res.freedBytes > 0, `bytes freed: ${res.freedBytes}`);
  const after = s.stats();
  t.equal(after.blocks, live.length);
  t.equal(before.fileBytes - after.fileBytes, res.freedBytes, 'freedBytes is what the packs shrank by');
  t.ok(after.fileBytes < before.fileBytes / 2, `files: ${before.fileBytes} -> ${after.fileBytes}`);
  await checkLive(t, s, live, data, 'after gc');
  for (const h of dead.slice(0, 5)) await rejectsCode(t, s.get(h), 'BLOCK_MISSING');
  t.notOk(dead.some((h) => s.has(h)), 'no dead block is held');
  const files = await packFiles(e.dir);
  t.equal(files.length, after.packs, 'the old pack files are deleted');
  await s.close();

  s = await e.open(opts);
  t.equal(s.recovery.reindexed, 0, 'reopen brings back no dropped block');
  t.notOk(dead.some((h) => s.has(h)), 'no dead block after reopen');
  await checkLive(t, s, live, data, 'after reopen');
  t.same(s.stats(), after);
  const again = await s.gc(isLive);
  t.same([again.freedBlocks, again.packsRewritten], [0, 0], 'a second gc has nothing to do');
  // Dropping blocks at the end of a pack that is not rewritten cuts the pack's tail.
  const keepMost = new Set(live.slice(0, -2).map((h) => Buffer.from(h).toString('hex')));
  const res2 = await s.gc((h) => keepMost.has(Buffer.from(h).toString('hex')), { minDeadFraction: 0.99 });
  t.equal(res2.freedBlocks, 2);
  await checkLive(t, s, live.slice(0, -2), data, 'after the second gc');
  await s.close();
  s = await e.open(opts);
  t.equal(s.stats().blocks, live.length - 2, 'the dropped tail blocks do not come back on reopen');
  t.equal(s.recovery.reindexed, 0);
  await s.close();
});

t.test('a block put again while gc runs is kept', async (t) => {
  const e = setup(t);
  let s: BlockStore;
  let again: Buffer | null = null;
  let data: Map<string, Buffer>;
  s = await e.open({
    gcStep: async (step) => {
      if (step === 'copied' && again !== null) await s.put(again);
    },
  });
  const filled = await fill(s, 10, 30);
  data = filled.data;
  const deadHash = filled.hashes[1]!;
  again = data.get(Buffer.from(deadHash).toString('hex'))!;
  const res = await s.gc((h) => Buffer.compare(h, filled.hashes[0]!) === 0);
  t.equal(res.freedBlocks, 28, 'all dead but the one put again');
  t.same(Buffer.from(await s.get(deadHash)), again, 'the block put during gc reads back');
  await s.close();
  s = await e.open();
  t.same(Buffer.from(await s.get(deadHash)), again, 'and after reopen');
  await s.close();
});

const STEPS: GcStep[] = ['copied', 'intent', 'moved', 'dropped', 'unlinked'];
for (const crashAt of STEPS) {
  t.test(`gc interrupted after "${crashAt}" loses nothing live`, async (t) => {
    const e = setup(t);
    const opts = { packBytes: 60_000 };
    let s = await e.open({ ...opts, gcStep: (step) => { if (step === crashAt) throw new Error(`crash after ${step}`); } });
    const { hashes, data } = await fill(s, 11, 60);
    const live = hashes.filter((_, i) => i % 3 === 0);
    const liveSet = new Set(live.map((h) => Buffer.from(h).toString('hex')));
    const isLive = (h: Uint8Array): boolean => liveSet.has(Buffer.from(h).toString('hex'));
    await t.rejects(s.gc(isLive), { message: `crash after ${crashAt}` });
    await s.close(); // the process dies: only what is on disk and in LMDB counts
    s = await e.open(opts);
    await checkLive(t, s, live, data, 'after the crash');
    t.notOk((await readdir(e.dir)).includes('gc-intent'), 'open finishes or forgets the interrupted gc');
    await s.gc(isLive);
    await checkLive(t, s, live, data, 'after gc runs again');
    t.equal(s.stats().blocks, live.length, 'only the live blocks are left');
    const files = await packFiles(e.dir);
    t.equal(files.length, s.stats().packs);
    await s.close();
    s = await e.open(opts);
    await checkLive(t, s, live, data, 'after reopen');
    t.equal(s.stats().blocks, live.length);
    await s.close();
  });
}

t.test('gc interrupted, and LMDB lost the commits of the gc: copies are found again', async (t) => {
  const e = setup(t);
  const opts = { packBytes: 60_000 };
  let s = await e.open({ ...opts, gcStep: (step) => { if (step === 'unlinked') throw new Error('power cut'); } });
  const { hashes, data } = await fill(s, 12, 60);
  const beforeGc = entries(e.index);
  const live = hashes.filter((_, i) => i % 3 === 0);
  const liveSet = new Set(live.map((h) => Buffer.from(h).toString('hex')));
  await t.rejects(s.gc((h) => liveSet.has(Buffer.from(h).toString('hex'))));
  await s.close();
  // The old packs are gone (the unlink and the directory fsync reached the disk) but the
  // noSync LMDB environment lost the commits that pointed the index at the copies.
  e.index.clear();
  e.index.putMany(beforeGc.map(([k, l]) => [Buffer.from(k, 'hex'), l] as const));
  s = await e.open(opts);
  t.ok(s.recovery.droppedEntries > 0, `entries into deleted packs are dropped (${s.recovery.droppedEntries})`);
  t.ok(s.recovery.reindexed >= live.length, `the copies are indexed (${s.recovery.reindexed})`);
  await checkLive(t, s, live, data, 'after recovery');
  await s.close();
});

t.test('pack files are named and rolled by size; stats count them', async (t) => {
  const e = setup(t);
  const s = await e.open({ packBytes: 50_000 });
  const r = rng(13);
  for (let i = 0; i < 6; i++) await s.put(r(20_000));
  await s.sync();
  const files = await packFiles(e.dir);
  t.same(files, ['pack-00000001.dat', 'pack-00000002.dat', 'pack-00000003.dat']);
  t.equal(s.stats().packs, 3);
  const head = (await readFile(join(e.dir, files[1]!))).subarray(0, 8).toString('latin1');
  t.equal(head, 'RLZPACK\x01');
  await s.close();
});

t.test('BLOCK_SIZE is the format constant of the log', async (t) => {
  t.equal(BLOCK_SIZE, FORMAT_BLOCK_SIZE);
  t.equal(BLOCK_SIZE, 128 * 1024);
});

t.test('damage in the unsynced window: whole records after it are kept', async (t) => {
  const e = setup(t);
  const r = rng(14);
  const [a, b, c] = [r(8000), r(8000), r(8000)];
  let s = await e.open();
  const [ha, hb, hc] = await s.putMany([a, b, c]);
  await s.close();
  // One write of three records; the page holding b never reached the disk, and neither did
  // the marker that would have said the write was synced.
  const locB = e.index.get(hb!)!;
  const fh = await openFile(join(e.dir, packFileName(1)), 'r+');
  await fh.write(Buffer.alloc(4096), 0, 4096, locB.offset + 100);
  await fh.close();
  await rm(join(e.dir, 'synced'));
  const size = (await stat(join(e.dir, packFileName(1)))).size;
  s = await e.open();
  t.equal(s.recovery.badRegions.length, 1, 'the damaged record is reported');
  t.equal(s.recovery.badRegions[0]!.offset, locB.offset);
  t.equal(s.recovery.tornTails.length, 0, 'it is not a torn tail: a whole record follows');
  t.equal((await stat(join(e.dir, packFileName(1)))).size, size, 'nothing is cut');
  t.notOk(s.has(hb!), 'its index entry is dropped');
  t.same(Buffer.from(await s.get(ha!)), a);
  t.same(Buffer.from(await s.get(hc!)), c, 'the record after the damage is kept');
  t.same(await s.put(b), hb, 'the damaged block can be put again');
  t.same(Buffer.from(await s.get(hb!)), b);
  await s.close();
});

t.test('read-only: reads, refuses writes, cuts nothing', async (t) => {
  const e = setup(t);
  const r = rng(15);
  let s = await e.open();
  const [ha] = await s.putMany([r(5000)]);
  await s.close();
  await appendFile(join(e.dir, packFileName(1)), Buffer.alloc(300, 7));
  const size = (await stat(join(e.dir, packFileName(1)))).size;
  s = await e.open({ readOnly: true });
  t.equal(s.recovery.tornTails.length, 1, 'the torn tail is seen');
  t.equal((await stat(join(e.dir, packFileName(1)))).size, size, 'but not cut');
  t.equal((await s.get(ha!)).byteLength, 5000);
  await rejectsCode(t, s.put(r(10)), 'READ_ONLY');
  await rejectsCode(t, s.gc(() => true), 'READ_ONLY');
  await s.close();
});

t.test('BufferPool: a buffer comes back when its last holder gives it', async (t) => {
  const pool = new BufferPool(1024, 4);
  const a = pool.take();
  t.equal(a.byteLength, 1024);
  pool.hold(a.subarray(0, 10)); // a view names the same memory
  pool.give(a);
  t.equal(pool.free, 0, 'still held once');
  pool.give(a.subarray(5));
  t.equal(pool.free, 1, 'back in the pool');
  pool.give(a);
  t.equal(pool.free, 1, 'a buffer given back twice is not pooled twice');
  t.equal(pool.take().buffer, a.buffer, 'and taken again');
  pool.give(Buffer.alloc(1024));
  t.equal(pool.free, 0, 'a buffer the pool never gave out is not taken in');
});

t.test('BufferPool: once idle (no take for idleMs), all but keepIdle buffers are let go; a busy pool keeps them', async (t) => {
  const timers: (() => void)[] = [];
  const pool = new BufferPool(1024, 8, { keepIdle: 2, idleMs: 50, setTimer: (fn) => void timers.push(fn) });
  const out = Array.from({ length: 6 }, () => pool.take());
  for (const b of out) pool.give(b);
  t.equal(pool.free, 6, 'all six back while in use');
  t.equal(timers.length, 1, 'one idle check armed');
  pool.give(pool.take()); // still busy
  timers.shift()!();
  t.equal(pool.free, 6, 'a take since the check was armed: nothing let go');
  t.equal(timers.length, 1, 'looked at again later');
  timers.shift()!();
  t.equal(pool.free, 2, 'idle: keepIdle kept');
  t.equal(timers.length, 0, 'nothing more armed');
  const shared = new BufferPool(64, 2, { shared: true });
  t.ok(shared.take().buffer instanceof SharedArrayBuffer, 'shared: in a SharedArrayBuffer');
});

t.test('putMany owned: the pool buffers are the records, read back right, and come back once written', async (t) => {
  const e = setup(t);
  const s = await e.open({ blockSize: BLOCK_SIZE, flushBytes: 4 * BLOCK_SIZE });
  const r = rng(11);
  const want: Buffer[] = [];
  const given: Buffer[] = [];
  for (let i = 0; i < 6; i++) {
    const b = blockBuffers.take();
    r(BLOCK_SIZE).copy(b);
    want.push(Buffer.from(b));
    given.push(b);
  }
  const dup = blockBuffers.take();
  want[0]!.copy(dup);
  const free0 = blockBuffers.free;
  const hashes = await s.putMany([...given.map((b, i) => (i === 5 ? b.subarray(0, 1000) : b)), dup], { owned: true });
  t.same(Buffer.from(hashes[6]!), Buffer.from(hashes[0]!), 'a duplicate names the same block');
  for (let i = 0; i < 6; i++) {
    const w = i === 5 ? want[i]!.subarray(0, 1000) : want[i]!;
    t.same(Buffer.from(hashes[i]!), sha256(w), `block ${i} is named by its SHA-256`);
    t.ok(Buffer.from(await s.get(hashes[i]!)).equals(w), `block ${i} reads back`);
  }
  await s.sync();
  t.ok(blockBuffers.free >= Math.min(256, free0 + 7), 'every buffer went back to the pool once written');
  for (let i = 0; i < 6; i++) given[i]!.fill(0xee); // reused by someone else: the store kept nothing of them
  for (let i = 0; i < 6; i++) {
    const w = i === 5 ? want[i]!.subarray(0, 1000) : want[i]!;
    t.ok(Buffer.from(await s.getRange(hashes[i]!, 0, BLOCK_SIZE)).equals(w), `block ${i} reads back from its pack`);
  }
  await s.close();
  const again = await e.open({ blockSize: BLOCK_SIZE });
  t.ok(Buffer.from(await again.get(hashes[2]!)).equals(want[2]!), 'and after a reopen');
  await again.close();
});

t.test('stageMany: readable at once, the write it starts runs behind, blocks kept without a copy', async (t) => {
  const e = setup(t);
  const s = await e.open({ flushBytes: 4 * BS });
  const r = rng(12);
  const frame = r(6 * BS); // one received message: the blocks are views of it
  const blocks = Array.from({ length: 6 }, (_, i) => frame.subarray(i * BS, (i + 1) * BS));
  const first = await s.stageMany(blocks.slice(0, 2));
  t.equal(first.written, null, 'under the flush size: no write started');
  for (let i = 0; i < 2; i++) {
    t.same(Buffer.from(first.hashes[i]!), sha256(blocks[i]!), `block ${i} is named by its SHA-256`);
    t.ok(s.has(first.hashes[i]!), `block ${i} is held at once`);
  }
  const second = await s.stageMany(blocks.slice(2));
  t.not(second.written, null, 'past the flush size: a write started');
  for (let i = 2; i < 6; i++) t.ok(Buffer.from(await s.get(second.hashes[i - 2]!)).equals(blocks[i]!), `block ${i} reads back before it is written`);
  await second.written;
  t.equal(s.stats().blocks, 6);
  await s.sync();
  await s.close();
  const again = await e.open();
  for (let i = 0; i < 6; i++) t.ok(Buffer.from(await again.get(sha256(blocks[i]!))).equals(blocks[i]!), `block ${i} after a reopen`);
  await rejectsCode(t, (async () => again.stageMany([r(BS + 1)]))(), 'BAD_ARGUMENT');
  await again.close();
});

t.test('stageMany owned: pool buffers are staged without a copy and come back once written', async (t) => {
  const e = setup(t);
  const s = await e.open({ blockSize: BLOCK_SIZE, flushBytes: 2 * BLOCK_SIZE });
  const r = rng(14);
  const data = [r(BLOCK_SIZE), r(BLOCK_SIZE), r(BLOCK_SIZE)];
  const bufs = data.map((d) => {
    const b = blockBuffers.take().subarray(0, d.byteLength);
    d.copy(b);
    return b;
  });
  const free0 = blockBuffers.free;
  const { hashes, written } = await s.stageMany(bufs, { owned: true });
  t.not(written, null, 'past the flush size: a write started');
  for (let i = 0; i < 3; i++) t.ok(Buffer.from(await s.get(hashes[i]!)).equals(data[i]!), `block ${i} reads back at once`);
  await written;
  t.ok(blockBuffers.free >= free0 + 3, 'the written blocks gave their pool buffers back');
  await s.close();
  const again = await e.open({ blockSize: BLOCK_SIZE });
  for (let i = 0; i < 3; i++) t.ok(Buffer.from(await again.get(hashes[i]!)).equals(data[i]!), `block ${i} after a reopen`);
  await again.close();
});

t.test('stageIn: blocks of a buffer given up are hashed with their records\' CRCs in the hasher\'s worker, and read back', async (t) => {
  const e = setup(t);
  const s = await e.open({ blockSize: BLOCK_SIZE, flushBytes: 2 * BLOCK_SIZE });
  const r = rng(15);
  // A received message: a few bytes of framing, then the blocks (the last one short).
  const sizes = [BLOCK_SIZE, BLOCK_SIZE, 40_000];
  const msg = Buffer.allocUnsafeSlow(7 + sizes.reduce((n, x) => n + x, 0));
  const data = sizes.map((n) => r(n));
  const spans: Array<[number, number]> = [];
  let at = 7;
  for (const d of data) {
    d.copy(msg, at);
    spans.push([at, d.byteLength]);
    at += d.byteLength;
  }
  const { blocks, hashes, written } = await s.stageIn(msg.buffer, spans);
  t.equal(msg.buffer.byteLength, 0, 'the buffer was moved to the worker (detached here)');
  t.not(written, null, 'past the flush size: a write started');
  for (let i = 0; i < data.length; i++) {
    t.same(Buffer.from(hashes[i]!), sha256(data[i]!), `block ${i} is named by its SHA-256`);
    t.ok(blocks[i]!.equals(data[i]!), `block ${i} is handed back as a view of the returned buffer`);
    t.ok(Buffer.from(await s.get(hashes[i]!)).equals(data[i]!), `block ${i} reads back before it is written`);
  }
  await written;
  await s.sync();
  await s.close();
  // get checks each record's CRC: the CRCs the worker computed are the records' own.
  const again = await e.open({ blockSize: BLOCK_SIZE });
  for (let i = 0; i < data.length; i++) t.ok(Buffer.from(await again.get(sha256(data[i]!))).equals(data[i]!), `block ${i} after a reopen (CRC holds)`);
  // A buffer that cannot move (Node's allocation pool): hashed here, kept in place.
  const small = Buffer.from(r(3000));
  const pooled = Buffer.allocUnsafe(3000);
  small.copy(pooled);
  const kept = await again.stageIn(pooled.buffer, [[pooled.byteOffset, 3000]]);
  t.ok(pooled.buffer.byteLength > 0, 'a pool slice is not moved');
  t.same(Buffer.from(kept.hashes[0]!), sha256(small));
  await again.sync();
  await again.close();
  const third = await e.open({ blockSize: BLOCK_SIZE });
  t.ok(Buffer.from(await third.get(sha256(small))).equals(small), 'the small block reads back');
  await third.close();
});

t.test('stageIn: blocks lying in a pooled shared buffer are hashed where they lie, and the buffer is handed to `free` once written and let go', async (t) => {
  const e = setup(t);
  const s = await e.open({ blockSize: BLOCK_SIZE, flushBytes: 64 * BLOCK_SIZE });
  const r = rng(16);
  const sizes = [BLOCK_SIZE, BLOCK_SIZE, 50_000];
  const shared = Buffer.from(new SharedArrayBuffer(9 + sizes.reduce((n, x) => n + x, 0) + 1000)); // larger than the message, as a pool's are
  const data = sizes.map((n) => r(n));
  const spans: Array<[number, number]> = [];
  let at = 9;
  for (const d of data) {
    shared.fill(d, at, at + d.byteLength);
    spans.push([at, d.byteLength]);
    at += d.byteLength;
  }
  const freed: ArrayBufferLike[] = [];
  const { blocks, hashes, written, lease } = await s.stageIn(shared.buffer, spans, { free: (b) => freed.push(b), flush: true });
  t.not(lease, null, 'the caller holds a lease on the buffer');
  t.not(written, null, 'flush: the write started at once, far under the flush size');
  t.equal(shared.buffer.byteLength > 0, true, 'shared memory is not moved');
  for (let i = 0; i < data.length; i++) {
    t.same(Buffer.from(hashes[i]!), sha256(data[i]!), `block ${i} is named by its SHA-256`);
    t.equal(blocks[i]!.buffer, shared.buffer, `block ${i} is a view of the shared buffer`);
    t.ok(Buffer.from(await s.get(hashes[i]!)).equals(data[i]!), `block ${i} reads back before it is written`);
  }
  await written;
  await s.sync();
  await new Promise((res) => setImmediate(res));
  t.same(freed, [], 'not freed while the caller holds it');
  lease!.release();
  await new Promise((res) => setImmediate(res));
  t.equal(freed.length, 1, 'freed once written and let go');
  t.equal(freed[0], shared.buffer, 'the buffer itself');
  shared.fill(0); // reused by its pool: what was stored stays
  await s.close();
  const again = await e.open({ blockSize: BLOCK_SIZE });
  for (let i = 0; i < data.length; i++) t.ok(Buffer.from(await again.get(sha256(data[i]!))).equals(data[i]!), `block ${i} after a reopen (CRC holds)`);
  await again.close();
});

t.test('stageIn with `known` CRCs (a peer sent them): a block whose hash is the one asked for is stored with the CRC given, any other with its own; readRuns hands the CRCs back', async (t) => {
  const e = setup(t);
  const s = await e.open({ blockSize: BLOCK_SIZE, flushBytes: 64 * BLOCK_SIZE });
  const r = rng(17);
  const data = [r(BLOCK_SIZE), r(BLOCK_SIZE), r(30_000)];
  const shared = Buffer.from(new SharedArrayBuffer(data.reduce((n, d) => n + d.byteLength, 0)));
  const spans: Array<[number, number]> = [];
  let at = 0;
  for (const d of data) {
    shared.fill(d, at, at + d.byteLength);
    spans.push([at, d.byteLength]);
    at += d.byteLength;
  }
  const hashes = data.map((d) => sha256(d));
  const right = recordCrcOf(hashes[0]!, data[0]!);
  // Block 1: a CRC that is not its record's, for a block that is what was asked for: stored as
  // given (the receiver does not compute it again), so its record then reads as damaged.
  // Block 2: not the block asked for (a forged one): its CRC is computed here, the one sent is not used.
  const wrong = (recordCrcOf(hashes[1]!, data[1]!) ^ 1) >>> 0;
  const known = { hashes: [hashes[0]!, hashes[1]!, Buffer.alloc(32, 7)], crcs: [right, wrong, 12345] };
  const got = await s.stageIn(shared.buffer, spans, { free: () => undefined, flush: true, known });
  t.same(got.hashes.map((h) => Buffer.from(h)), hashes, 'each block is named by the SHA-256 computed here, whatever was asked for');
  await got.written;
  got.lease?.release();
  await s.sync();
  await s.close();
  const again = await e.open({ blockSize: BLOCK_SIZE });
  t.ok(Buffer.from(await again.get(hashes[0]!)).equals(data[0]!), 'block 0, stored with the CRC given: its CRC holds');
  await t.rejects(again.get(hashes[1]!), 'block 1: the CRC given was stored, and its record reads as damaged');
  t.ok(Buffer.from(await again.get(hashes[2]!)).equals(data[2]!), 'block 2, not the block asked for: stored with its own CRC');
  const crcs: number[] = [];
  const into = Buffer.alloc(4 * (BLOCK_SIZE + RECORD_HEADER_BYTES));
  const runs = await again.readRuns([hashes[0]!, hashes[1]!, hashes[2]!], into, crcs);
  t.ok(runs[0]!.equals(data[0]!), 'readRuns reads block 0');
  t.equal(runs[1], null, 'not block 1: its CRC does not hold');
  t.same([crcs[0], crcs[2]], [right, recordCrcOf(hashes[2]!, data[2]!)], "readRuns hands back each block's record CRC");
  await again.close();
});

t.test('readRuns: the raw blocks of a batch read into one buffer, one read per run of records back to back; the rest null', async (t) => {
  const e = setup(t);
  const s0 = await e.open({ blockSize: BLOCK_SIZE });
  const r = rng(13);
  const raw = [r(BLOCK_SIZE), r(BLOCK_SIZE), r(BLOCK_SIZE)];
  const small = r(3000);
  const hs = await s0.putMany([...raw, small]);
  const [hZ] = await s0.putMany([text(13, 50_000)], { compress: true });
  await s0.close();
  const s = await e.open({ blockSize: BLOCK_SIZE });
  const into = Buffer.alloc(8 * (BLOCK_SIZE + RECORD_HEADER_BYTES));
  const missing = Buffer.alloc(32, 7);
  const got = await s.readRuns([hs[2]!, hs[0]!, hs[1]!, hs[3]!, hZ!, ZERO_BLOCK, hs[0]!, missing], into);
  raw.forEach((b, i) => t.ok(got[[1, 2, 0][i]!]?.equals(b), `raw block ${i} reads right`));
  t.ok(got[3]?.equals(small), 'a short raw block reads right');
  t.ok(got.slice(0, 4).every((g) => g?.buffer === into.buffer), 'as views of the buffer given');
  const offs = [1, 2, 0, 3].map((i) => got[i]!.byteOffset - into.byteOffset);
  t.same(offs, [0, 1, 2, 3].map((k) => RECORD_HEADER_BYTES + k * (BLOCK_SIZE + RECORD_HEADER_BYTES)), 'in pack order, record after record: one run');
  t.equal(got[4], null, 'a compressed block: null (get reads it)');
  t.equal(got[5], null, 'ZERO_BLOCK: null');
  t.equal(got[6], got[1], 'a hash asked twice: the same view');
  t.equal(got[7], null, 'a block not here: null');

  const two = Buffer.alloc(2 * (BLOCK_SIZE + RECORD_HEADER_BYTES));
  const some = await s.readRuns([hs[0]!, hs[1]!, hs[2]!], two);
  t.ok(some[0]?.equals(raw[0]!) && some[1]?.equals(raw[1]!), 'what fits the buffer reads right');
  t.equal(some[2], null, 'what does not fit: null');
  await s.close();

  // A damaged payload: null, its CRC does not hold (get says why).
  const loc = e.index.get(hs[1]!)!;
  const fh = await openFile(join(e.dir, packFileName(1)), 'r+');
  await fh.write(Buffer.from([0xff ^ raw[1]![77]!]), 0, 1, loc.offset + RECORD_HEADER_BYTES + 77);
  await fh.close();
  const s2 = await e.open({ blockSize: BLOCK_SIZE });
  const checked = await s2.readRuns([hs[0]!, hs[1]!, hs[2]!], into);
  t.ok(checked[0]?.equals(raw[0]!) && checked[2]?.equals(raw[2]!), 'its neighbours read right');
  t.equal(checked[1], null, 'the damaged one: null (its CRC does not hold)');
  const crcs: number[] = [];
  const unchecked = await s2.readRuns([hs[0]!, hs[1]!, hs[2]!], into, crcs, false);
  t.ok(unchecked[1] !== null && !unchecked[1].equals(raw[1]!), 'checkCrc false: the damaged one is read as it lies (serving a peer that checks it)');
  t.equal(crcs[1], recordCrcOf(hs[1]!, raw[1]!), 'with its record\'s CRC field, which its bytes no longer match');
  t.not(crcs[1], recordCrcOf(hs[1]!, unchecked[1]!), 'so the peer tells it from a forged block');
  await rejectsCode(t, s2.get(hs[1]!), 'BLOCK_CORRUPT', [Buffer.from(hs[1]!).toString('hex')]);
  await s2.close();
});
