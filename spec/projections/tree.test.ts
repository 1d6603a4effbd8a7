/**
 * The tree projection's rules for events that no longer fit (they arrive from other peers,
 * decided against another tree): applying is total and deterministic, never a throw. A move
 * that would make a cycle, a removal of a name that now means another node, a link into a
 * removed directory are skipped; a name taken is given a conflict name beside it. The same
 * entries always give the same rows.
 */
import t from 'tap';
import type { FsEvent } from '../../log/index.js';
import { given, nid } from '../engine/helpers/given.js';

const R = nid(1);
const A = nid(2); // /home/a
const B = nid(3); // /home/a/b
const F = nid(4); // /home/f
const X = nid(5);
const base = { uid: 0, gid: 0, time: 1 };
const SETUP: FsEvent[] = [
  { type: 'area-create', area: 'home', root: R, mode: 0o755, ...base },
  { type: 'mkdir', id: A, parent: R, name: 'a', mode: 0o755, ...base },
  { type: 'mkdir', id: B, parent: A, name: 'b', mode: 0o755, ...base },
  { type: 'create', id: F, parent: R, name: 'f', mode: 0o644, ...base },
];

t.test('directory link counts: 2 + subdirectories, kept through moves and removals', async (t) => {
  const g = await given(t, SETUP);
  t.equal(g.view.node(R)?.nlink, 3, 'home: a');
  t.equal(g.view.node(A)?.nlink, 3, 'a: b');
  g.apply([{ type: 'rename', id: B, parent: A, name: 'b', newParent: R, newName: 'b', time: 2 }]);
  t.equal(g.view.node(R)?.nlink, 4, 'home: a, b');
  t.equal(g.view.node(A)?.nlink, 2, 'a: none');
  t.equal(g.view.node(B)?.parent, R, 'b hangs from home');
  g.apply([{ type: 'rmdir', id: B, parent: R, name: 'b', time: 3 }]);
  t.equal(g.view.node(R)?.nlink, 3);
  t.equal(g.view.node(B)?.nlink, 0, 'a removed directory has no links');
  t.equal(g.view.node(R)?.mtime, 3, 'the parent changed when its entries did');
});

t.test('a move that would make a cycle is skipped (the later of two crossing moves)', async (t) => {
  const g = await given(t, SETUP, [{ type: 'mkdir', id: X, parent: R, name: 'x', mode: 0o755, ...base }]);
  // Two peers: one moves x under a/b, the other moves a under x. Applied in one order, the second would close a loop.
  g.apply([{ type: 'rename', id: X, parent: R, name: 'x', newParent: B, newName: 'x', time: 2 }]);
  const before = g.set.digests().find((d) => d.name === 'tree');
  g.apply([{ type: 'rename', id: A, parent: R, name: 'a', newParent: X, newName: 'a', time: 3 }]);
  t.same(g.set.digests().find((d) => d.name === 'tree'), before, 'the crossing move changed nothing');
  t.equal(g.view.child(R, 'a'), A, 'a stays where it was');
  t.ok(g.view.isWithin(X, A), 'x is inside a, as the first move said');
  t.notOk(g.view.isWithin(A, X), 'and there is no loop');
});

t.test('events that no longer fit are skipped, not thrown', async (t) => {
  const g = await given(t, SETUP);
  const before = g.set.digests().find((d) => d.name === 'tree');
  g.apply([
    { type: 'unlink', id: X, parent: R, name: 'f', time: 2 }, // "f" is another node now
    { type: 'rmdir', id: A, parent: R, name: 'a', time: 2 }, // not empty
    { type: 'rename', id: F, parent: A, name: 'f', newParent: R, newName: 'g', time: 2 }, // not there
    { type: 'rename', id: F, parent: R, name: 'f', newParent: R, newName: 'a', time: 2 }, // a file over a non-empty dir
    { type: 'create', id: X, parent: nid(0x77), name: 'orphan', mode: 0o644, ...base }, // unknown parent
    { type: 'link', id: A, parent: R, name: 'a2', time: 2 }, // a directory
    { type: 'setattr', id: nid(0x77), mode: 0o600, time: 2 }, // unknown node
  ]);
  t.same(g.set.digests().find((d) => d.name === 'tree'), before, 'nothing changed');
  g.apply([{ type: 'rmdir', id: B, parent: A, name: 'b', time: 3 }]);
  g.apply([{ type: 'create', id: X, parent: B, name: 'late', mode: 0o644, ...base }]);
  t.equal(g.view.node(X), undefined, 'a create into a removed directory is skipped');
  g.apply([{ type: 'link', id: F, parent: B, name: 'late', time: 4 }]);
  t.equal(g.view.node(F)?.nlink, 1, 'so is a link into it');
});

t.test('a name taken by another node: the newcomer gets a conflict name beside it', async (t) => {
  const g = await given(t, SETUP);
  g.apply([{ type: 'create', id: X, parent: R, name: 'f', mode: 0o600, uid: 0, gid: 0, time: 1_700_000_000_000 }]);
  t.equal(g.view.child(R, 'f'), F, 'the first keeps the name');
  const names = [...g.set.tree.children(R)].map((d) => d.name);
  const other = names.find((n) => n !== 'f' && n.includes('conflict'));
  t.ok(other, `the second is beside it: ${names.join(', ')}`);
  t.equal(g.view.child(R, other!), X);
  t.equal(g.view.node(X)?.name, other, 'and knows its name');
});

t.test('the same entries give the same rows; batching changes only the history positions', async (t) => {
  const events: FsEvent[] = [
    { type: 'mkdir', id: X, parent: A, name: 'x', mode: 0o700, ...base },
    { type: 'link', id: F, parent: X, name: 'f2', time: 2 },
    { type: 'rename', id: A, parent: R, name: 'a', newParent: R, newName: 'renamed', time: 3 },
    { type: 'unlink', id: F, parent: R, name: 'f', time: 4 },
    { type: 'setattr', id: X, mode: 0o755, mtime: 99, time: 5 },
  ];
  const one = await given(t, SETUP, events);
  const again = await given(t, SETUP, events);
  t.same(again.set.digests(), one.set.digests(), 'the same entries: the same digests, every projection');
  const many = await given(t, SETUP, ...events.map((e) => [e]));
  const visible = (g: typeof one): unknown => [R, A, B, F, X].map((id) => [g.view.node(id), [...g.set.tree.children(id)]]);
  t.same(visible(many), visible(one), 'one entry or five: the same nodes and entries');
  t.equal(one.view.child(X, 'f2'), F);
  t.equal(one.view.node(F)?.nlink, 1);
});

t.test('an event that does not validate (a name with "/", NUL, "..", too long) is skipped with a reason', async (t) => {
  const g = await given(t, SETUP);
  const skipped: string[] = [];
  g.set.onSkipped = (s) => skipped.push(s.reason);
  const before = g.set.digests().find((d) => d.name === 'tree');
  g.apply([
    { type: 'create', id: X, parent: R, name: 'a/b', mode: 0o644, ...base },
    { type: 'create', id: X, parent: R, name: 'nul\0', mode: 0o644, ...base },
    { type: 'mkdir', id: X, parent: R, name: '..', mode: 0o755, ...base },
    { type: 'rename', id: F, parent: R, name: 'f', newParent: R, newName: '.', time: 2 },
    { type: 'link', id: F, parent: R, name: 'n'.repeat(256), time: 2 },
  ]);
  t.equal(skipped.length, 5, 'all five skipped');
  t.match(skipped[0], /cannot contain "\/"/);
  t.match(skipped[1], /NUL/);
  t.match(skipped[2], /"\.\." cannot be a name/);
  t.match(skipped[4], /at most 255 bytes/);
  t.same(g.set.digests().find((d) => d.name === 'tree'), before, 'the tree did not change');
  t.same([...g.set.checkpoint.all().values()].map((p) => p.length), [2], 'the entry still counts as applied (the log holds it)');
});

t.test("directory entries hold their nodes' kinds, through links, renames and a replace", async (t) => {
  const S = nid(6);
  const g = await given(t, SETUP, [{ type: 'symlink', id: S, parent: R, name: 's', target: 'f', ...base }]);
  const kinds = (dir: string): Array<[string, string | undefined]> => [...g.set.tree.children(dir)].map((e) => [e.name, e.kind]);
  t.same(kinds(R), [['a', 'dir'], ['f', 'file'], ['s', 'symlink']], 'each entry of home with its kind');
  g.apply([
    { type: 'link', id: F, parent: A, name: 'f2', time: 2 },
    { type: 'rename', id: S, parent: R, name: 's', newParent: A, newName: 's2', time: 2 },
    { type: 'rename', id: B, parent: A, name: 'b', newParent: R, newName: 'b', time: 2 },
    { type: 'create', id: X, parent: R, name: 'x', mode: 0o644, ...base, time: 2 },
    { type: 'rename', id: F, parent: R, name: 'f', newParent: R, newName: 'x', time: 3 },
  ]);
  t.same(kinds(R), [['a', 'dir'], ['b', 'dir'], ['x', 'file']], 'moved in, and a file renamed over another');
  t.same(kinds(A), [['f2', 'file'], ['s2', 'symlink']], 'a link and a moved symlink');
  t.same([...g.set.tree.childrenAt(A, g.set.head)], [...g.set.tree.children(A)].map(({ name, id }) => ({ name, id })), 'a past listing names the same nodes (ids only)');
});
