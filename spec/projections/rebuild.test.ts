/**
 * A rebuild runs in batches (one transaction each) of a bounded number of events, with reads
 * of keys never written since the clear answered without LMDB (cached-db.ts, written-keys.ts).
 * Whatever the batches, it must equal the projections applied incrementally, and the rows it
 * wrote in one batch must be found by the next ones and by the commands that follow.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { importTree, replayCheck } from '../../engine/index.js';
import { ProjectionSet, rebuild } from '../../projections/index.js';
import { content, OWNER, openStore, tempDir } from '../engine/helpers/env.js';

/** A plain tree of `n` small files in 3 directories: about 4 events per file, entries of ~2,000 events. */
async function plainTree(root: string, n: number): Promise<void> {
  for (let d = 0; d < 3; d++) await mkdir(join(root, `d${d}`), { recursive: true });
  for (let i = 0; i < n; i++) await writeFile(join(root, `d${i % 3}`, `f${i}`), content(i, 100 + (i % 50)));
}

t.test('a rebuild of more events than one batch holds equals the projections built incrementally', async (t) => {
  const src = await tempDir(t);
  await plainTree(src, 3000);
  const s = await openStore(t);
  await s.engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  const r = await importTree(s.engine, src, '/home/tree');
  t.equal(r.files, 3000);
  let events = 0;
  for (const feed of s.engine.store.feeds.list()) for (const e of await feed.read(0, feed.length)) events += e.events.length;
  t.ok(events > 2 * 4096, `${events} events: at least three batches of 4,096`);

  const check = await replayCheck(s.engine);
  t.ok(check.ok, `replay --check: ${check.projections.filter((p) => !p.same).map((p) => p.name).join(', ') || 'all equal'}`);

  // Rows written by one batch are read by later ones: commit the files again after a rebuild with undo records.
  const dir = await tempDir(t);
  const set = ProjectionSet.open(dir);
  t.teardown(() => set.close());
  const progress: number[] = [];
  const applied = await rebuild(set, s.engine.store.feeds, (p) => progress.push(p.done));
  t.equal(applied, check.entries, 'every entry applied');
  t.ok(progress.length >= 3, `progress reported per batch (${progress.length} times)`);
  t.same(set.digests(), s.engine.projections.digests(), 'a rebuild that keeps undo records: the same digests');
});

t.test('projections rebuilt at open serve reads and take new commands that touch the rebuilt rows', async (t) => {
  const src = await tempDir(t);
  await plainTree(src, 1500);
  const s = await openStore(t);
  await s.engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await importTree(s.engine, src, '/home/tree');
  const before = s.engine.projections.digests();
  // Empty the projections: the next open rebuilds them from the log (clear, then catch up).
  s.engine.projections.clear();
  const engine = await s.reopen();
  t.same(engine.projections.digests(), before, 'rebuilt at open: the same digests');
  t.equal(engine.readdir('/home/tree/d1').length, 500, 'a rebuilt directory lists every file');
  // Commands that read rows the rebuild wrote (nodes, names, content) in their own batches.
  await engine.run({ type: 'rename', from: '/home/tree/d0/f0', to: '/home/tree/d1/moved' });
  const id = engine.stat('/home/tree/d1/moved').id;
  await engine.write(id, 0, Buffer.from('new bytes'));
  await engine.run({ type: 'unlink', path: '/home/tree/d2/f2' });
  t.equal(engine.lookup('/home/tree/d0/f0'), undefined, 'the old name is gone');
  t.ok(engine.lookup('/home/tree/d1/moved'), 'the new name is there');
  t.equal(engine.lookup('/home/tree/d2/f2'), undefined, 'the unlinked file is gone');
  t.ok((await replayCheck(engine)).ok, 'and a rebuild from the log equals them');
});
