/**
 * The touches index: for each node, the kinds of the events of each entry that named it, in
 * order (what `realize history` prints), read in one range without decoding the log.
 */
import t from 'tap';
import type { FsEvent } from '../../log/index.js';
import { decodeKinds } from '../../projections/touches.js';
import { given, nid } from '../engine/helpers/given.js';

const R = nid(1);
const F = nid(2);
const G = nid(3);
const base = { uid: 0, gid: 0, time: 1 };

t.test('one row per (node, entry): the kinds of the events naming it, in order', async (t) => {
  const g = await given(
    t,
    [
      { type: 'area-create', area: 'home', root: R, mode: 0o755, ...base },
      { type: 'create', id: F, parent: R, name: 'f', mode: 0o644, ...base },
    ],
    [
      { type: 'truncate', id: F, size: 0, tail: null, time: 2 },
      { type: 'create', id: G, parent: R, name: 'g', mode: 0o644, ...base },
      { type: 'setattr', id: F, mode: 0o600, time: 2 },
    ] as FsEvent[],
  );
  const first = g.set.head - 1;
  t.same([...g.set.touches.of(R)], [{ n: first, kinds: ['area-create'] }], 'the area root: made by area-create (its children do not name it by id)');
  t.same([...g.set.touches.of(F)], [{ n: first, kinds: ['create'] }, { n: first + 1, kinds: ['truncate', 'setattr'] }]);
  t.same([...g.set.touches.of(G)], [{ n: first + 1, kinds: ['create'] }]);
  t.same([...g.set.touches.of(nid(9))], [], 'a node never named has no rows');
});

t.test('kinds without a letter are spelt out', async (t) => {
  t.same(decodeKinds('cw{strange}C'), ['create', 'write', 'strange', 'commit']);
});
