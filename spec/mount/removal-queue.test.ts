/**
 * Unlinks answered once decided and applied together (mount/removal-queue.ts), over a real
 * engine: held unlinks wait unapplied until the next change or settle made through the engine,
 * the queue's bound or its timer, and are then one entry; a refused unlink throws at once and
 * holds nothing; what cannot be applied as one entry any more goes as the commands it was
 * decided from, in order.
 */
import t, { type Test } from 'tap';
import type { FsEvent } from '../../log/index.js';
import type { Engine } from '../../engine/index.js';
import { HOLD_MS, MAX_HELD, RemovalQueue } from '../../mount/removal-queue.js';
import { OWNER, openStore } from '../engine/helpers/env.js';

async function withFiles(t: Test, n: number): Promise<{ engine: Engine; queue: RemovalQueue; log: string[]; forgot: () => number }> {
  const { engine } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  for (let i = 0; i < n; i++) await engine.run({ type: 'create', path: `/home/d/f${i}`, mode: 0o644, owner: OWNER });
  const log: string[] = [];
  let forgotten = 0;
  let quiet = 0;
  const queue = new RemovalQueue(engine, {
    quietly: (fn) => {
      quiet++;
      try {
        return fn();
      } finally {
        quiet--;
      }
    },
    forgetCache: () => forgotten++,
    onInternalError: (op, err) => log.push(`${op}: ${String(err)}`),
  });
  engine.headChanged.add(() => {
    if (quiet === 0) log.push('headChanged outside quietly');
  });
  t.teardown(() => queue.close());
  return { engine, queue, log, forgot: () => forgotten };
}

const feedOf = (engine: Engine) => engine.store.feeds.get(`${engine.store.publicKey}.home`)!;

t.test('held unlinks wait unapplied, then go as one entry before the next command', async (t) => {
  const { engine, queue, log } = await withFiles(t, 5);
  const feed = feedOf(engine);
  const before = feed.length + feed.pending;
  for (let i = 0; i < 4; i++) t.ok(queue.hold({ type: 'unlink', path: `/home/d/f${i}` }), `f${i} held`);
  t.equal(queue.size, 4);
  t.ok(engine.lookup('/home/d/f0'), 'not applied yet');
  t.equal(feed.length + feed.pending, before, 'no entry yet');
  await engine.run({ type: 'rename', from: '/home/d/f4', to: '/home/d/g' });
  t.equal(queue.size, 0, 'applied first');
  t.same(engine.readdir('/home/d').map((e) => e.name), ['g'], 'every held unlink applied, then the rename');
  t.equal(feed.length, before + 2, 'one entry for the unlinks, one for the rename');
  const unlinks = (await feed.get(before)).events as unknown as FsEvent[];
  t.same(unlinks.map((e) => e.type), ['unlink', 'unlink', 'unlink', 'unlink']);
  t.same(log, ['headChanged outside quietly'], "no errors, and the unlinks' apply ran quietly (the rename's own notice only)");
});

t.test('a refused unlink throws at once and holds nothing', async (t) => {
  const { queue } = await withFiles(t, 1);
  t.throws(() => queue.hold({ type: 'unlink', path: '/home/d/missing' }), { code: 'NOT_FOUND' });
  t.throws(() => queue.hold({ type: 'unlink', path: '/home/d' }), { code: 'IS_A_DIRECTORY' });
  t.equal(queue.size, 0);
});

t.test('a settle or flush through the engine, the bound and the timer apply what waits', async (t) => {
  const { engine, queue } = await withFiles(t, MAX_HELD + 3);
  queue.hold({ type: 'unlink', path: '/home/d/f0' });
  engine.applyHeld(); // what control settle and Engine.flush call first
  t.equal(engine.lookup('/home/d/f0'), undefined, 'applied by applyHeld');
  queue.hold({ type: 'unlink', path: '/home/d/f1' });
  await engine.flush();
  t.equal(engine.lookup('/home/d/f1'), undefined, 'applied by a flush');
  for (let i = 2; i < MAX_HELD + 2; i++) queue.hold({ type: 'unlink', path: `/home/d/f${i}` });
  t.equal(queue.size, 0, `applied at ${MAX_HELD}`);
  t.equal(engine.lookup(`/home/d/f${MAX_HELD + 1}`), undefined);
  queue.hold({ type: 'unlink', path: `/home/d/f${MAX_HELD + 2}` });
  await new Promise((r) => setTimeout(r, HOLD_MS + 50));
  t.equal(queue.size, 0, 'applied by the timer');
  t.equal(engine.lookup(`/home/d/f${MAX_HELD + 2}`), undefined);
  t.same(engine.readdir('/home/d'), [], 'every file gone');
});

t.test('when the entry cannot be staged now, the commands go in order and the cache is forgotten', async (t) => {
  const { engine, queue, log, forgot } = await withFiles(t, 3);
  for (let i = 0; i < 3; i++) queue.hold({ type: 'unlink', path: `/home/d/f${i}` });
  const real = engine.stageDecided.bind(engine);
  (engine as { stageDecided: Engine['stageDecided'] }).stageDecided = () => false;
  t.teardown(() => {
    (engine as { stageDecided: Engine['stageDecided'] }).stageDecided = real;
  });
  queue.apply();
  t.equal(forgot(), 1, 'the cache is forgotten');
  await engine.flush();
  await new Promise((r) => setTimeout(r, 50));
  t.same(engine.readdir('/home/d'), [], 'applied as commands');
  t.same(log.filter((l) => !l.startsWith('headChanged')), [], 'no errors');
});

t.test('a name of a file with other names is not held (their link count changes too): what waits is applied, false', async (t) => {
  const { engine, queue } = await withFiles(t, 2);
  await engine.run({ type: 'link', path: '/home/d/f1', newPath: '/home/d/f1b' });
  t.ok(queue.hold({ type: 'unlink', path: '/home/d/f0' }), 'an only name is held');
  t.equal(queue.hold({ type: 'unlink', path: '/home/d/f1' }), false, 'one of two names is not');
  t.equal(queue.size, 0, 'what waited was applied');
  t.equal(engine.lookup('/home/d/f0'), undefined);
  t.ok(engine.lookup('/home/d/f1'), 'and the refused one is left to the caller');
});
