/**
 * The inode table's numbers kept at hand (inode-table.ts keyOf / inoOf): a batch abandoned
 * after numbering a node takes that number back, and its key is forgotten with it; the keys of
 * nodes numbered before stay (they are read on every request).
 */
import t from 'tap';
import type { FsEvent } from '../../log/index.js';
import { given, nid } from '../engine/helpers/given.js';

const R = nid(1);
const F = nid(2);
const X = nid(3);
const base = { uid: 0, gid: 0, time: 1 };
const SETUP: FsEvent[] = [
  { type: 'area-create', area: 'home', root: R, mode: 0o755, ...base },
  { type: 'create', id: F, parent: R, name: 'f', mode: 0o644, ...base },
];

t.test('a batch abandoned after numbering a node forgets that number, and only that one', async (t) => {
  const g = await given(t, SETUP);
  const inodes = g.set.inodes;
  const f = { row: inodes.inoOf(F), key: inodes.keyOf(F) };
  t.ok(f.row !== undefined && f.key !== undefined, 'f has a number and a key');
  const e = g.entry([
    { type: 'create', id: X, parent: R, name: 'x', mode: 0o644, ...base },
    { type: 'setxattr', id: X, name: 'user.a', value: new Uint8Array([1]), time: 2 },
  ]);
  // Fail after x was numbered (and its rows keyed by that number): the batch is abandoned.
  const xattrs = g.set.xattrs as unknown as { apply: (...a: unknown[]) => void };
  const real = xattrs.apply.bind(g.set.xattrs);
  xattrs.apply = (...a: unknown[]): void => {
    if ((a[0] as FsEvent).type === 'setxattr') throw new Error('injected failure');
    real(...a);
  };
  t.throws(() => g.set.applyEntries([e]), /injected failure/);
  xattrs.apply = real;
  t.equal(inodes.inoOf(X), undefined, 'the number the abandoned batch gave is gone');
  t.equal(inodes.keyOf(X), undefined, 'and so is its key');
  t.same(inodes.inoOf(F), f.row, "an earlier node's number stays");
  t.equal(inodes.keyOf(F), f.key, 'and its key');
  g.set.applyEntries([e]);
  const x = inodes.inoOf(X);
  t.ok(x !== undefined && x.ino !== f.row!.ino, 'applied again, x is numbered anew');
  t.equal(g.view.child(R, 'x'), X, 'and listed');
  t.same(inodes.idsByKey().get(inodes.keyOf(X)!), X, 'its key is the one its row gives');
});
