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
import { encodeRecord, feedName, type Entry, type FsEvent } from '../../log/index.js';
import { ProjectionSet, rebuild } from '../../projections/index.js';
import { content, OWNER, openStore, tempDir } from '../engine/helpers/env.js';
import { nid } from '../engine/helpers/given.js';
import { feedOf, openProjections } from './helpers/feeds.js';

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

t.test('two feeds whose entries interleave, read in chunks, are merged and applied in the one order', async (t) => {
  // Two authors' feeds of one area, each 40 entries of 100 creates (about 1 MB of records:
  // several chunks read per feed, batches ending where a feed's next chunk is not read yet).
  const R = nid(1);
  const o = { uid: 0, gid: 0 };
  const logs: Entry[][] = [[], []];
  const feeds = [feedOf(1), feedOf(2)];
  logs[0]!.push(feeds[0]!(0, 10, [{ type: 'area-create', area: 'home', root: R, mode: 0o755, ...o, time: 10 }], null));
  let id = 0x1000;
  for (let seq = 1; seq <= 40; seq++) {
    for (const f of [0, 1]) {
      const log = logs[f]!;
      const s = log.length;
      const events: FsEvent[] = Array.from({ length: 100 }, (_, i) => ({ type: 'create', id: nid(id++), parent: R, name: `f${f}-${s}-${i}-${'x'.repeat(60)}`, mode: 0o644, ...o, time: 20 + seq }));
      // Feed 1's entries stand between feed 0's in the order (hybrid logical times interleave).
      log.push(feeds[f]!(s, 20 + 2 * seq + f, events, log[s - 1] ?? null));
    }
  }
  const all = [...logs[0]!, ...logs[1]!].sort((a, b) => a.hlc - b.hlc || (feedName(a) < feedName(b) ? -1 : 1));
  const incremental = await openProjections(t, 'merge-incremental');
  for (const e of all) incremental.applyEntries([e]);

  const asFeed = (log: Entry[]) => ({ name: feedName(log[0]!), length: log.length, readRecords: async (from: number, to: number) => log.slice(from, to).map(encodeRecord) });
  const bytes = logs.flat().reduce((n, e) => n + encodeRecord(e).byteLength, 0);
  t.ok(bytes > 1024 * 1024, `${bytes} bytes of records: more than one chunk of each feed`);
  const rebuilt = await openProjections(t, 'merge-rebuilt');
  const progress: number[] = [];
  const applied = await rebuild(rebuilt, { list: () => logs.map(asFeed) } as never, (p) => progress.push(p.done), { undo: false });
  t.equal(applied, all.length, 'every entry applied once');
  t.ok(progress.length >= 4, `in several batches (${progress.length} progress reports)`);
  t.same(rebuilt.digests(), incremental.digests(), 'the same projections as the entries applied one by one in the one order');
  t.same([2, 3, 4].map((n) => [rebuilt.positions.row(n)?.feed, rebuilt.positions.row(n)?.seq]), [[feedName(logs[0]![0]!), 1], [feedName(logs[1]![0]!), 0], [feedName(logs[0]![0]!), 2]], 'the feeds alternate (hybrid logical times 22, 23, 24)');
});
