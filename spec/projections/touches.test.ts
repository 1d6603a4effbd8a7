/**
 * The touches index: for each entry and node, the kinds of the entry's events that named it,
 * in order (what `realize history` prints), read without decoding the log.
 */
import t from 'tap';
import type { FsEvent } from '../../log/index.js';
import { decodeKinds } from '../../projections/touches.js';
import { given, hashOf, nid } from '../engine/helpers/given.js';

const R = nid(1);
const F = nid(2);
const G = nid(3);
const base = { uid: 0, gid: 0, time: 1 };

t.test('for each entry and node: the kinds of the events naming it, in order', async (t) => {
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
  const kinds = (id: string): string[][] => [first, first + 1].map((n) => g.set.touches.kindsAt(id, n));
  t.same(kinds(R), [['area-create'], []], 'the area root: made by area-create (its children do not name it by id)');
  t.same(kinds(F), [['create'], ['truncate', 'setattr']]);
  t.same(kinds(G), [[], ['create']]);
  t.same(kinds(nid(9)), [[], []], 'a node never named has no rows');
});

t.test('kinds without a letter are spelt out', async (t) => {
  t.same(decodeKinds('cw{strange}C'), ['create', 'write', 'strange', 'commit']);
});

t.test('one entry naming many nodes: each found in its row, and none that it did not name', async (t) => {
  const ids = Array.from({ length: 300 }, (_, i) => nid(0x1000 + i * 7));
  const g = await given(
    t,
    [{ type: 'area-create', area: 'home', root: R, mode: 0o755, ...base }],
    ids.flatMap((id, i) => [
      { type: 'create', id, parent: R, name: `f${i}`, mode: 0o644, ...base },
      ...(i % 3 === 0 ? [{ type: 'setattr', id, mode: 0o600, time: 2 }] : []),
    ]) as FsEvent[],
  );
  const n = g.set.head;
  let ok = true;
  ids.forEach((id, i) => {
    const want = i % 3 === 0 ? ['create', 'setattr'] : ['create'];
    if (JSON.stringify(g.set.touches.kindsAt(id, n)) !== JSON.stringify(want)) ok = false;
  });
  t.ok(ok, 'every node with its kinds');
  t.same([...g.set.touches.kindsAtEach(ids[5]!, [n - 1, n, n + 1])], [[n, ['create']]], 'only the entry that named it');
  for (const other of [nid(0x1001), nid(0), 'f'.repeat(32), 'not-an-id']) t.same(g.set.touches.kindsAt(other, n), [], `${other}: not named`);
});

t.test("the commits an entry made read back with their own times (written less the row's base)", async (t) => {
  const w = (id: string, time: number): FsEvent[] => [
    { type: 'write', id, size: 3, blocks: [[0, hashOf(1)]], time },
    { type: 'commit', id, time },
  ] as FsEvent[];
  const H = nid(4);
  const cases: Array<[string, number[]]> = [
    ['millisecond times', [1_790_000_000_123, 1_790_000_000_124]],
    ['times far apart (a base of 0)', [0, 1_790_000_000_000]],
    ['small times', [1, 2]],
  ];
  for (const [what, [a, b]] of cases) {
    const g = await given(
      t,
      [
        { type: 'area-create', area: 'home', root: R, mode: 0o755, ...base },
        { type: 'create', id: F, parent: R, name: 'f', mode: 0o644, ...base },
        { type: 'create', id: H, parent: R, name: 'h', mode: 0o644, ...base },
      ],
      [...w(F, a!), ...w(H, b!), ...w(F, b!)],
    );
    t.same([...g.set.content.history(F)].map((c) => c.time), [a, b], `${what}: two commits of one file`);
    t.same([...g.set.content.history(H)].map((c) => c.time), [b], `${what}: the other file`);
  }
});

t.test('an entry naming more nodes than a seal writes into its first buffer (64 KiB), and kinds spelt out in UTF-8', async (t) => {
  // 10,000 records of 2 key bytes, 1 + 2 kinds letters and a commit note (about 10 bytes): past
  // 64 KiB of records, so the seal's buffer grows (and is given back after a huge entry).
  const ids = Array.from({ length: 10_000 }, (_, i) => nid(0x10000 + i));
  const odd = { type: 'ünknown-kind', id: ids[7], time: 2 } as unknown as FsEvent;
  const g = await given(
    t,
    [{ type: 'area-create', area: 'home', root: R, mode: 0o755, ...base }],
    ids.flatMap((id, i) => [
      { type: 'create', id, parent: R, name: `f${i}`, mode: 0o644, ...base },
      { type: 'commit', id, time: 3 + i },
      ...(i === 7 ? [odd] : []),
    ]) as FsEvent[],
    [{ type: 'create', id: F, parent: R, name: 'after', mode: 0o644, ...base }],
  );
  const n = g.set.head - 1;
  const wrong = ids.filter((id, i) => JSON.stringify(g.set.touches.kindsAt(id, n)) !== JSON.stringify(i === 7 ? ['create', 'commit', 'ünknown-kind'] : ['create', 'commit']));
  t.same(wrong, [], 'every node of the big entry with its kinds (a kind outside the letters spelt out)');
  t.same([...g.set.content.history(ids[9999]!)].map((c) => c.time), [3 + 9999], 'its commit notes read back');
  t.same(g.set.touches.kindsAt(F, n + 1), ['create'], 'the entry after it');
});
