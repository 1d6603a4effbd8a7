/**
 * `realize gc` (engine/gc.ts): blocks that no branch and no kept version references are
 * freed and the space comes back on disk; everything still referenced stays readable;
 * retention (versions kept per file, days kept by an injected clock) decides what is old.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { collectGarbage, liveBlocks, replayCheck, type Engine, type StoreEnv } from '../../engine/index.js';
import { content, OWNER, openStore, seededBytes, type TestStore } from './helpers/env.js';

const DAY = 86_400_000;

/** A clock the test moves by hand (each read still advances it by 1 ms). */
function handClock(start = 1_700_000_000_000): { env: StoreEnv; advance(ms: number): void } {
  let now = start;
  return { env: { now: () => now++, randomBytes: seededBytes(9) }, advance: (ms) => void (now += ms) };
}

async function diskBytes(dir: string): Promise<number> {
  let n = 0;
  for (const name of await readdir(dir)) {
    const st = await stat(join(dir, name));
    n += st.isDirectory() ? await diskBytes(join(dir, name)) : st.size;
  }
  return n;
}

async function readAll(engine: Engine, path: string): Promise<Buffer> {
  const info = engine.stat(path);
  return engine.read(info.id, 0, info.size + 1);
}

/** /home/f committed as v1 (3 blocks), then overwritten and committed as v2 (1 block); /home/g untouched. */
async function overwritten(t: Test, env?: StoreEnv, between?: () => void): Promise<{ s: TestStore; v1: Buffer; v2: Buffer; g: Buffer }> {
  const s = await openStore(t, env ? { env } : {});
  const { engine } = s;
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/f', mode: 0o644, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/g', mode: 0o644, owner: OWNER });
  const f = engine.stat('/home/f').id;
  const v1 = content('v1', 3 * BLOCK_SIZE);
  const g = content('g', 1000);
  await engine.write(f, 0, v1);
  await engine.commit(f);
  await engine.write(engine.stat('/home/g').id, 0, g);
  await engine.commit(engine.stat('/home/g').id);
  between?.();
  const v2 = content('v2', BLOCK_SIZE);
  await engine.write(f, 0, v2);
  await engine.truncate(f, BLOCK_SIZE);
  await engine.commit(f);
  await engine.flush();
  return { s, v1, v2, g };
}

t.test('default retention frees nothing that a version or a branch references', async (t) => {
  const { s, v1, v2, g } = await overwritten(t);
  const { engine } = s;
  const before = engine.blocks.stats();
  const r = await collectGarbage(engine);
  t.equal(r.freedBlocks, 0, 'nothing freed');
  t.equal(r.liveBlocks, 5, 'v1 (3) + v2 (1) + g (1) are live');
  t.same(engine.blocks.stats(), before, 'the block store is untouched');
  t.ok((await readAll(engine, '/home/f')).equals(v2), 'the current content reads');
  t.ok((await readAll(engine, '/home/g')).equals(g));
  const history = [...engine.projections.content.history(engine.stat('/home/f').id)];
  t.equal(history.length, 2, 'two versions of f');
  const old = history[0]!;
  t.ok((await engine.head.readBlocks(old.blocks!, old.size, 0, old.size)).equals(v1), 'and the old version still reads');
});

t.test('--keep-versions 1: the old blocks are freed, the space shrinks on disk, the current content reads', async (t) => {
  const { s, v2, g } = await overwritten(t);
  let engine = s.engine;
  const blocksDir = join(s.root, 'blocks');
  const before = engine.blocks.stats();
  const diskBefore = await diskBytes(blocksDir);
  const digests = engine.projections.digests();
  const r = await collectGarbage(engine, { keepVersions: 1 });
  t.equal(r.freedBlocks, 3, "v1's three blocks are freed");
  t.equal(r.liveBlocks, 2, 'v2 and g are live');
  t.ok(r.freedBytes >= 3 * BLOCK_SIZE, `${r.freedBytes} bytes given back`);
  const after = engine.blocks.stats();
  t.equal(after.blocks, before.blocks - 3, 'the block store holds 3 fewer blocks');
  t.ok(after.fileBytes < before.fileBytes - 3 * BLOCK_SIZE + 1, `pack files: ${before.fileBytes} -> ${after.fileBytes} bytes`);
  const diskAfter = await diskBytes(blocksDir);
  t.ok(diskAfter <= diskBefore - 3 * BLOCK_SIZE, `on disk: ${diskBefore} -> ${diskAfter} bytes`);
  t.ok((await readAll(engine, '/home/f')).equals(v2), 'the current content still reads');
  t.ok((await readAll(engine, '/home/g')).equals(g), 'so does the other file');
  t.same(engine.projections.digests(), digests, 'gc does not touch the projections (a rebuild still equals them)');

  engine = await s.reopen();
  t.ok((await readAll(engine, '/home/f')).equals(v2), 'and after close and open');
  t.ok((await replayCheck(engine)).ok);
  const again = await collectGarbage(engine, { keepVersions: 1 });
  t.equal(again.freedBlocks, 0, 'a second gc finds nothing more');
});

t.test('uncommitted writes (the branch) are live even when their file has older versions', async (t) => {
  const { s, v2 } = await overwritten(t);
  const { engine } = s;
  const f = engine.stat('/home/f').id;
  const pending = content('pending', 2000);
  await engine.write(f, BLOCK_SIZE, pending);
  const r = await collectGarbage(engine, { keepVersions: 1 });
  t.equal(r.freedBlocks, 3);
  t.equal(engine.info(f)!.pending, 1, 'the write is not committed');
  t.ok((await readAll(engine, '/home/f')).equals(Buffer.concat([v2, pending])), 'and reads after gc');
});

t.test("an unlinked file's content is kept: it may still be open, and reads by id", async (t) => {
  const { s } = await overwritten(t);
  const { engine } = s;
  const g = engine.stat('/home/g').id;
  await engine.run({ type: 'unlink', path: '/home/g' });
  await collectGarbage(engine, { keepVersions: 1 });
  t.ok((await engine.read(g, 0, 2000)).equals(content('g', 1000)));
});

t.test('--keep-days follows the clock: versions older than the window go, the newest never', async (t) => {
  const clock = handClock();
  const { s, v2 } = await overwritten(t, clock.env, () => clock.advance(3 * DAY));
  const { engine } = s;
  t.equal(liveBlocks(engine, { keepDays: 7 }).size, 5, 'both versions are within 7 days');
  t.equal((await collectGarbage(engine, { keepDays: 7 })).freedBlocks, 0);
  t.equal(liveBlocks(engine, { keepDays: 2 }).size, 2, 'v1 (3 days old) is outside a 2-day window');
  clock.advance(30 * DAY);
  t.equal(liveBlocks(engine, { keepDays: 7 }).size, 2, 'a month later, the newest versions only');
  const r = await collectGarbage(engine, { keepDays: 7 });
  t.equal(r.freedBlocks, 3);
  t.ok((await readAll(engine, '/home/f')).equals(v2), 'the newest version of each file is always kept');
  t.ok((await readAll(engine, '/home/g')).equals(content('g', 1000)));
});
