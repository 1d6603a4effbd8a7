/**
 * Applying the same event twice changes nothing, at both levels: the projection set skips
 * an entry at or below its feed's checkpoint, and each projection's apply() is itself
 * idempotent (called twice with the same event, inside one write transaction, it leaves the
 * same rows). Every kind of event is covered, including the ones whose name is taken and
 * must get a conflict name.
 */
import t from 'tap';
import type { FsEvent } from '../../log/index.js';
import { given, hashOf, nid } from '../engine/helpers/given.js';

const T0 = 1000;
const R = nid(1); // area home
const D = nid(2); // /home/d
const F = nid(3); // /home/d/f (committed, then one pending write)
const G = nid(4); // /home/g
const L = nid(5); // /home/l -> g
const E = nid(6); // /home/empty
const X = nid(0x50); // new node ids
const PEER = 'ab'.repeat(32);
const DEV = 'cd'.repeat(16);

const SETUP: FsEvent[] = [
  { type: 'area-create', area: 'home', root: R, mode: 0o755, uid: 1, gid: 1, time: T0 },
  { type: 'mkdir', id: D, parent: R, name: 'd', mode: 0o755, uid: 1, gid: 1, time: T0 },
  { type: 'create', id: F, parent: D, name: 'f', mode: 0o644, uid: 1, gid: 1, time: T0 },
  { type: 'write', id: F, size: 200_000, blocks: [[0, hashOf(1)], [1, hashOf(2)]], time: T0 },
  { type: 'commit', id: F, time: T0 },
  { type: 'write', id: F, size: 200_000, blocks: [[1, hashOf(3)]], time: T0 + 1 },
  { type: 'create', id: G, parent: R, name: 'g', mode: 0o600, uid: 1, gid: 1, time: T0 },
  { type: 'symlink', id: L, parent: R, name: 'l', target: 'g', uid: 1, gid: 1, time: T0 },
  { type: 'mkdir', id: E, parent: R, name: 'empty', mode: 0o700, uid: 1, gid: 1, time: T0 },
  { type: 'setxattr', id: F, name: 'user.a', value: new Uint8Array([1, 2, 3]), time: T0 },
];

const T = 5000;
const CASES: Array<[string, FsEvent]> = [
  ['area-create', { type: 'area-create', area: 'other', root: X, mode: 0o755, uid: 0, gid: 0, time: T }],
  ['create', { type: 'create', id: X, parent: D, name: 'new', mode: 0o644, uid: 0, gid: 0, time: T }],
  ['create (name taken: conflict name)', { type: 'create', id: X, parent: D, name: 'f', mode: 0o644, uid: 0, gid: 0, time: T }],
  ['mkdir', { type: 'mkdir', id: X, parent: D, name: 'sub', mode: 0o755, uid: 0, gid: 0, time: T }],
  ['mkdir (name taken: conflict name)', { type: 'mkdir', id: X, parent: R, name: 'd', mode: 0o755, uid: 0, gid: 0, time: T }],
  ['symlink', { type: 'symlink', id: X, parent: D, name: 'ln', target: '../g', uid: 0, gid: 0, time: T }],
  ['link', { type: 'link', id: F, parent: R, name: 'f-link', time: T }],
  ['link (name taken: conflict name)', { type: 'link', id: F, parent: R, name: 'g', time: T }],
  ['write', { type: 'write', id: F, size: 300_000, blocks: [[0, hashOf(9)], [2, hashOf(10)]], time: T }],
  ['truncate (cut inside a block)', { type: 'truncate', id: F, size: 1000, tail: hashOf(11), time: T }],
  ['truncate (grow)', { type: 'truncate', id: G, size: 1_000_000, tail: null, time: T }],
  ['commit', { type: 'commit', id: F, time: T }],
  ['rename', { type: 'rename', id: F, parent: D, name: 'f', newParent: R, newName: 'moved', time: T }],
  ['rename (replacing a file)', { type: 'rename', id: G, parent: R, name: 'g', newParent: D, newName: 'f', time: T }],
  ['rename (a directory over an empty one)', { type: 'rename', id: D, parent: R, name: 'd', newParent: R, newName: 'empty', time: T }],
  ['unlink', { type: 'unlink', id: G, parent: R, name: 'g', time: T }],
  ['rmdir', { type: 'rmdir', id: E, parent: R, name: 'empty', time: T }],
  ['setattr', { type: 'setattr', id: F, mode: 0o600, uid: 7, gid: 8, atime: 123, mtime: 456, time: T }],
  ['setxattr', { type: 'setxattr', id: F, name: 'user.b', value: new Uint8Array([4]), time: T }],
  ['setxattr (replace)', { type: 'setxattr', id: F, name: 'user.a', value: new Uint8Array([5, 6]), time: T }],
  ['removexattr', { type: 'removexattr', id: F, name: 'user.a', time: T }],
  ['famfs-alloc', { type: 'famfs-alloc', id: F, extents: [{ device: DEV, offset: 0, length: 4096 }], time: T }],
  ['famfs-free', { type: 'famfs-free', id: F, extents: [{ device: DEV, offset: 0, length: 4096 }], time: T }],
  ['placement', { type: 'placement', id: F, peer: PEER, placement: 'unreal', time: T }],
];

/** Events that only later projections (famfs) will keep. */
const NO_PROJECTION_YET = new Set<FsEvent['type']>(['famfs-alloc', 'famfs-free']);

t.test('every kind of event is covered', async (t) => {
  const kinds = new Set(CASES.map(([, e]) => e.type));
  const all: FsEvent['type'][] = [
    'area-create', 'create', 'mkdir', 'symlink', 'link', 'write', 'truncate', 'commit', 'rename',
    'unlink', 'rmdir', 'setattr', 'setxattr', 'removexattr', 'famfs-alloc', 'famfs-free', 'placement',
  ];
  t.same([...kinds].sort(), [...all].sort());
});

for (const [label, event] of CASES) {
  t.test(`${label}: an entry applied again is skipped by the checkpoint`, async (t) => {
    const g = await given(t, SETUP);
    const before = g.set.digests();
    const e = g.entry([event]);
    t.equal(g.set.applyEntries([e]), 1, 'applied once');
    const once = g.set.digests();
    t.notSame(once, before, 'the event changed something (or the case proves nothing)');
    t.equal(g.set.applyEntries([e]), 0, 'the same entry again: skipped');
    t.same(g.set.digests(), once, 'digests unchanged');
    t.equal(g.set.applyEntries([e, e]), 0, 'twice in one batch: skipped');
    t.same(g.set.digests(), once, 'digests unchanged');
    t.equal(g.set.position('')?.length, undefined, 'no stray feed position');
  });

  t.test(`${label}: each projection's apply() twice leaves the same rows`, async (t) => {
    const g = await given(t, SETUP);
    const e = g.entry([event]);
    const ctx = { entry: e, feed: 'given-feed', index: 0 };
    const before = g.set.digests();
    g.set.env.transactionSync(() => {
      for (const p of g.set.all) p.apply(event, ctx);
    });
    const once = g.set.digests();
    if (NO_PROJECTION_YET.has(event.type)) t.same(once, before, `no projection keeps ${event.type} rows yet: nothing changed`);
    else t.notSame(once, before, 'the event changed something (or the case proves nothing)');
    for (const p of g.set.all) {
      g.set.env.transactionSync(() => {
        p.apply(event, ctx);
        p.apply(event, ctx);
      });
      const now = g.set.digests();
      t.same(now.find((d) => d.name === p.name), once.find((d) => d.name === p.name), `${p.name}: the same digest after applying again`);
    }
  });
}
