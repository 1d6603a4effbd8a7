/**
 * A scratch rebuild (a place opened with `scratch`, rebuilt without undo records: what `realize
 * log replay --check` does) hands each batch's rows to a writer thread (rebuild-writer.ts)
 * while the main thread applies the next batch; rows in flight are read from memory until
 * the writer has committed them. Whatever is in flight, the rebuilt projections must equal
 * the rows a rebuild writes in its own thread (equal to the ones applied incrementally:
 * rebuild.test.ts), removals, renames and directory emptiness checks included.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { encodeRecord, feedName, type Entry, type FsEvent } from '../../log/index.js';
import { ProjectionSet, rebuild } from '../../projections/index.js';
import { nid } from '../engine/helpers/given.js';
import { feedOf, openProjections } from './helpers/feeds.js';

const o = { uid: 0, gid: 0 };
const R = nid(1);
const DIRS = 12;
const dirId = (d: number): string => nid(0x100 + d);
const fileId = (i: number): string => nid(0x10000 + i);

/** One feed: 12 directories, 9,600 files (three batches of 4,096 events), then removals and moves in later entries. */
function makeLog(): Entry[] {
  const feed = feedOf(7);
  const log: Entry[] = [];
  let hlc = 10;
  const add = (events: FsEvent[]): void => {
    log.push(feed(log.length, hlc++, events, log.at(-1) ?? null));
  };
  add([{ type: 'area-create', area: 'home', root: R, mode: 0o755, ...o, time: 1 }]);
  add(Array.from({ length: DIRS }, (_, d) => ({ type: 'mkdir', id: dirId(d), parent: R, name: `d${d}`, mode: 0o755, ...o, time: 2 }) as FsEvent));
  const FILES = 9_600;
  for (let from = 0; from < FILES; from += 1_200) {
    const events: FsEvent[] = [];
    for (let i = from; i < from + 1_200; i++) events.push({ type: 'create', id: fileId(i), parent: dirId(i % DIRS), name: `f${i}`, mode: 0o644, ...o, time: 3 + (i >> 10) });
    add(events);
  }
  // Files of d0 unlinked (rows removed), d1 renamed into d3, every file of d2 moved out and d2
  // removed (its emptiness asked while the rows of the moves may be in flight), files renamed
  // over others (replaced targets), attributes changed.
  add(Array.from({ length: 400 }, (_, k) => ({ type: 'unlink', id: fileId(k * DIRS), parent: dirId(0), name: `f${k * DIRS}`, time: 4 }) as FsEvent));
  add([{ type: 'rename', id: dirId(1), parent: R, name: 'd1', newParent: dirId(3), newName: 'moved-d1', time: 5 }]);
  const d2 = Array.from({ length: 9_600 / DIRS }, (_, k) => 2 + k * DIRS);
  add(d2.map((i) => ({ type: 'rename', id: fileId(i), parent: dirId(2), name: `f${i}`, newParent: dirId(4), newName: `from-d2-${i}`, time: 6 }) as FsEvent));
  add([{ type: 'rmdir', id: dirId(2), parent: R, name: 'd2', time: 7 }]);
  add(Array.from({ length: 300 }, (_, k) => ({ type: 'rename', id: fileId(5 + k * DIRS), parent: dirId(5), name: `f${5 + k * DIRS}`, newParent: dirId(6), newName: `f${6 + k * DIRS}`, time: 8 }) as FsEvent));
  add(Array.from({ length: 400 }, (_, k) => ({ type: 'setattr', id: fileId(7 + k * DIRS), mode: 0o600, time: 9 }) as FsEvent));
  // In one entry: a name made, a directory's emptiness asked (its rows written out mid-batch,
  // held), then the name removed (in the overlay): the removal must be written after the name.
  add([
    { type: 'create', id: nid(0x9001), parent: dirId(8), name: 'late', mode: 0o644, ...o, time: 10 },
    { type: 'mkdir', id: nid(0x9002), parent: dirId(8), name: 'empty', mode: 0o755, ...o, time: 10 },
    { type: 'rmdir', id: nid(0x9002), parent: dirId(8), name: 'empty', time: 10 },
    { type: 'unlink', id: nid(0x9001), parent: dirId(8), name: 'late', time: 10 },
  ]);
  return log;
}

function asFeeds(log: Entry[]): never {
  return { list: () => [{ name: feedName(log[0]!), length: log.length, readRecords: async (from: number, to: number) => log.slice(from, to).map(encodeRecord) }] } as never;
}

async function scratchSet(t: { teardown(fn: () => Promise<void>): void }, prefix: string): Promise<ProjectionSet> {
  const dir = await mkdtemp(join(tmpdir(), `realize-spec-${prefix}-`));
  const set = ProjectionSet.open(dir, { scratch: true });
  t.teardown(async () => {
    await set.close();
    await rm(dir, { recursive: true, force: true });
  });
  return set;
}

const log = makeLog();

/** The same log rebuilt in a place that is not scratch (written in this thread; equal to the log applied incrementally: rebuild.test.ts). */
let reference: ProjectionSet | null = null;
const top = t;

t.test('a place that is not scratch, or a rebuild that keeps undo records, writes in this thread', async (t) => {
  // Kept for the next test (closed at the end of the file).
  const live = await openProjections(top, 'writer-live');
  await rebuild(live, asFeeds(log), undefined, { undo: false });
  t.equal(live.held.shipped, 0, 'not scratch: nothing shipped');
  reference = live;
  const withUndo = await scratchSet(t, 'writer-undo');
  await rebuild(withUndo, asFeeds(log));
  t.equal(withUndo.held.shipped, 0, 'with undo records: nothing shipped');
  t.same(withUndo.digests(), live.digests(), 'the same digests');
});

t.test('a scratch rebuild ships its batches to the writer thread and equals the rebuild written in this thread, again when rebuilt again', async (t) => {
  const want = reference!.digests();
  const rebuilt = await scratchSet(t, 'writer-rebuilt');
  const applied = await rebuild(rebuilt, asFeeds(log), undefined, { undo: false });
  t.equal(applied, log.length, 'every entry applied');
  const shipped = rebuilt.held.shipped;
  t.ok(shipped >= 3, `batches written by the writer thread: ${shipped} (written in this thread meanwhile, for range reads: ${JSON.stringify([...rebuilt.held.settles])})`);
  t.same(rebuilt.digests(), want, 'the same digests');
  // The rows the writer committed are what this thread reads afterwards.
  const names = (set: ProjectionSet, dir: string): string[] => [...set.tree.children(dir)].map((c) => c.name);
  t.same(names(rebuilt, dirId(4)), names(reference!, dirId(4)), 'a directory that took moved files lists the same');
  t.equal(names(rebuilt, dirId(4)).length, 2 * (9_600 / DIRS), 'its own files and the ones moved in');
  t.equal(rebuilt.tree.child(R, 'd2'), undefined, 'the emptied directory is gone');
  t.equal(rebuilt.tree.child(dirId(3), 'moved-d1'), dirId(1), 'the renamed directory is under its new name');
  t.equal(rebuilt.tree.node(fileId(7))?.mode, 0o600, 'a changed attribute');
  t.equal(rebuilt.tree.child(dirId(8), 'late'), undefined, 'a name removed after a directory\'s emptiness was asked in its entry is gone');

  // The same place rebuilt again (the writer thread is reused): cleared, shipped again, the same rows.
  await rebuild(rebuilt, asFeeds(log), undefined, { undo: false });
  t.ok(rebuilt.held.shipped >= 2 * shipped - 1, `shipped ${rebuilt.held.shipped - shipped} batches the second time`);
  t.same(rebuilt.digests(), want, 'the same digests the second time');
});
