/**
 * Rewind: an entry that sorts before entries already applied (a late arrival from another
 * feed) rewinds the projections to just before its place and the tail is applied again. The
 * result equals applying everything in order from the start, and the past reads the same.
 * A rebuild without undo records cannot be rewound into: it says so (integrate rebuilds).
 */
import t from 'tap';
import type { Entry } from '../../log/index.js';
import { ProjectionError, ProjectionSet } from '../../projections/index.js';
import { hashOf, nid } from '../engine/helpers/given.js';
import { feedOf, openProjections } from './helpers/feeds.js';

const R = nid(1);
const D = nid(2);
const F = nid(3);
const G = nid(4);
const o = { uid: 0, gid: 0 };

const open = (t: { teardown(fn: () => Promise<void>): void }): Promise<ProjectionSet> => openProjections(t, 'rewind');

const a = feedOf(1);
const b = feedOf(2);
const a0 = a(0, 100, [
  { type: 'area-create', area: 'home', root: R, mode: 0o755, ...o, time: 100 },
  { type: 'mkdir', id: D, parent: R, name: 'd', mode: 0o755, ...o, time: 100 },
  { type: 'create', id: F, parent: D, name: 'f', mode: 0o644, ...o, time: 100 },
], null);
const a1 = a(1, 300, [
  { type: 'write', id: F, size: 10, blocks: [[0, hashOf(1)]], time: 300 },
  { type: 'commit', id: F, time: 300 },
  { type: 'setattr', id: F, mode: 0o600, time: 300 },
  { type: 'rename', id: F, parent: D, name: 'f', newParent: R, newName: 'f2', time: 300 },
  { type: 'setxattr', id: D, name: 'user.x', value: new Uint8Array([1]), time: 300 },
], a0);
// Late: sorts between a0 and a1.
const b0 = b(0, 200, [
  { type: 'create', id: G, parent: D, name: 'f2', mode: 0o644, ...o, time: 200 },
  { type: 'write', id: F, size: 20, blocks: [[0, hashOf(2)]], time: 200 },
  { type: 'commit', id: F, time: 200 },
  { type: 'setxattr', id: D, name: 'user.x', value: new Uint8Array([2]), time: 200 },
  { type: 'unlink', id: G, parent: D, name: 'f2', time: 200 },
], null);

const shared = (s: ProjectionSet): Array<[string, string]> => s.digests().filter((d) => !d.local).map((d) => [d.name, d.digest]);

t.test('a late entry rewinds and re-applies the tail: the same rows as applying in order', async (t) => {
  const late = await open(t);
  late.applyEntries([a0]);
  late.applyEntries([a1]);
  t.equal(late.head, 2);
  late.applyEntries([b0, a1], { rewindTo: 1 });
  t.equal(late.head, 3);
  const ordered = await open(t);
  ordered.applyEntries([a0, b0, a1]);
  t.same(shared(late), shared(ordered), 'every shared projection (history rows included) equal');
  for (const p of [1, 2, 3]) {
    t.same([...late.tree.childrenAt(D, p)], [...ordered.tree.childrenAt(D, p)], `children of d at @${p}`);
    t.same(late.content.rowAt(F, p), ordered.content.rowAt(F, p), `content of f at @${p}`);
    t.same(late.tree.nodeAt(F, p), ordered.tree.nodeAt(F, p), `f at @${p}`);
    t.same(late.xattrs.getAt(D, 'user.x', p), ordered.xattrs.getAt(D, 'user.x', p), `xattr of d at @${p}`);
  }
  t.same(late.xattrs.getAt(D, 'user.x', 2), new Uint8Array([2]), 'the late entry is in the past');
  t.equal(late.tree.childAt(D, 'f2', 2), undefined, 'created and removed in one entry: absent after it');
  // Rewinding again to the start and applying everything still gives the same rows.
  late.applyEntries([a0, b0, a1], { rewindTo: 0 });
  t.same(shared(late), shared(ordered), 'rewound to nothing and re-applied');
});

t.test('without undo records (a scratch rebuild) a rewind refuses, with a reason', async (t) => {
  const set = await open(t);
  set.pauseUndo();
  set.applyEntries([a0, a1]);
  set.resumeUndo();
  t.notOk(set.canRewindTo(1));
  t.ok(set.canRewindTo(2), 'the head itself needs nothing undone');
  t.throws(() => set.applyEntries([b0, a1], { rewindTo: 1 }), ProjectionError);
  t.equal(set.head, 2, 'nothing changed');
  const ordered = await open(t);
  ordered.applyEntries([a0, a1]);
  t.same(shared(set), shared(ordered), 'the same rows as with undo records');
});

t.test('a row changed by more entries than it keeps: archived changes read the same past, and a rewind across an archive gives the rows of applying in order', async (t) => {
  const { CHUNK, MIN_ROW } = await import('../../projections/history.js');
  const count = MIN_ROW + CHUNK + 40;
  const build = (): Entry[] => {
    const out: Entry[] = [a0];
    for (let i = 1; i <= count; i++) out.push(a(i, 100 + i * 10, [{ type: 'setattr', id: F, mode: 0o600 + (i % 64), time: 100 + i * 10 }], out[i - 1]!));
    return out;
  };
  const entries = build();
  // The row archives its oldest changes when it reaches MIN_ROW + CHUNK of them: at entry
  // MIN_ROW + CHUNK - 1 (its creation is the first). Late: sorts just before that entry.
  const keep = MIN_ROW + CHUNK - 2;
  const late = b(0, 100 + keep * 10 - 5, [{ type: 'setattr', id: D, mode: 0o700, time: 100 + keep * 10 - 5 }], null);
  const rewound = await open(t);
  rewound.applyEntries(entries);
  const at = rewound.head;
  rewound.applyEntries([late, ...entries.slice(keep)], { rewindTo: keep });
  const ordered = await open(t);
  ordered.applyEntries([...entries.slice(0, keep), late, ...entries.slice(keep)]);
  t.equal(rewound.head, ordered.head);
  t.same(shared(rewound), shared(ordered), 'every shared projection equal (rows, history, archived changes)');
  let ok = true;
  for (let p = 1; p <= at; p++) {
    const mode = ordered.tree.nodeAt(F, p)?.mode;
    const want = p <= keep ? (p === 1 ? 0o644 : 0o600 + ((p - 1) % 64)) : 0o600 + ((p - 2) % 64);
    if (mode !== want || rewound.tree.nodeAt(F, p)?.mode !== want) ok = false;
  }
  t.ok(ok, 'the node at every position, archived or kept');
  t.equal([...ordered.tree.nodeChanges(F)].length, count + 1, 'every change listed, archived ones included');
});

t.test('an entry that changes thousands of rows (its packed history rows split): every past value, and a rewind over it', async (t) => {
  const ids = Array.from({ length: 3000 }, (_, i) => nid(0x10000 + i));
  const make = a(0, 100, [
    { type: 'area-create', area: 'home', root: R, mode: 0o755, ...o, time: 100 },
    ...ids.map((id, i) => ({ type: 'create' as const, id, parent: R, name: `f${i}`, mode: 0o644, ...o, time: 100 })),
  ], null);
  const chmod = (seq: number, time: number, mode: number, prev: ReturnType<typeof a>): ReturnType<typeof a> =>
    a(seq, time, ids.map((id, i) => ({ type: 'setattr' as const, id, mode: mode + (i % 7), time })), prev);
  const e1 = chmod(1, 300, 0o600, make);
  const e2 = chmod(2, 400, 0o640, e1);
  // Late: sorts between e1 and e2, and names every node too.
  const late1 = b(0, 350, ids.map((id, i) => ({ type: 'setxattr' as const, id, name: 'user.k', value: new Uint8Array([i & 255]), time: 350 })), null);
  const late = await open(t);
  late.applyEntries([make]);
  late.applyEntries([e1]);
  late.applyEntries([e2]);
  late.applyEntries([late1, e2], { rewindTo: 2 });
  const ordered = await open(t);
  ordered.applyEntries([make, e1, late1, e2]);
  t.same(shared(late), shared(ordered), 'every shared projection (history rows included) equal');
  let wrong = 0;
  for (const [i, id] of ids.entries()) {
    for (const [p, mode] of [[1, 0o644], [2, 0o600 + (i % 7)], [3, 0o600 + (i % 7)], [4, 0o640 + (i % 7)]] as const) {
      if (late.tree.nodeAt(id, p)?.mode !== mode || ordered.tree.nodeAt(id, p)?.mode !== mode) wrong++;
    }
    if ([...late.tree.nodeChanges(id)].map((c) => c.value?.mode).join() !== [0o644, 0o600 + (i % 7), 0o600 + (i % 7), 0o640 + (i % 7)].join()) wrong++;
  }
  t.equal(wrong, 0, 'every node at every position, and its changes');
});
