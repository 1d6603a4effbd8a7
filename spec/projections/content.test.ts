/**
 * The content projection (projections/content.ts), the write-cache view: a file's branch is
 * its block list and size with a count of the write and truncate events not yet folded; a
 * commit folds them into a content version named by its hash, records it in the file's
 * history, and is a no-op when nothing is pending.
 */
import t from 'tap';
import { BLOCK_SIZE, ZERO_BLOCK, type FsEvent } from '../../log/index.js';
import { blockCount, splitBlocks, versionHash } from '../../projections/index.js';
import { given, hashOf, nid } from '../engine/helpers/given.js';

const R = nid(1);
const F = nid(2);
const G = nid(3);
const SETUP: FsEvent[] = [
  { type: 'area-create', area: 'home', root: R, mode: 0o755, uid: 0, gid: 0, time: 1 },
  { type: 'create', id: F, parent: R, name: 'f', mode: 0o644, uid: 0, gid: 0, time: 1 },
  { type: 'create', id: G, parent: R, name: 'g', mode: 0o644, uid: 0, gid: 0, time: 1 },
];

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const blocksOf = (b: Uint8Array): string[] => [...splitBlocks(b)].map(hex);

t.test('a new file: an empty branch, no version', async (t) => {
  const g = await given(t, SETUP);
  t.match(g.set.content.row(F), { size: 0, version: null, pending: 0, commits: 0 });
  t.equal(g.set.content.row(R), undefined, 'directories have no content row');
});

t.test('writes and truncates change the branch at once and count as pending', async (t) => {
  const g = await given(t, SETUP);
  g.apply([{ type: 'write', id: F, size: 2 * BLOCK_SIZE + 10, blocks: [[0, hashOf(1)], [2, hashOf(2)]], time: 2 }]);
  let row = g.set.content.row(F)!;
  t.equal(row.size, 2 * BLOCK_SIZE + 10);
  t.same(blocksOf(row.blocks), [hex(hashOf(1)), hex(ZERO_BLOCK), hex(hashOf(2))], 'a block not written is a hole');
  t.equal(row.pending, 1);
  g.apply([{ type: 'write', id: F, size: 2 * BLOCK_SIZE + 10, blocks: [[1, hashOf(3)]], time: 3 }]);
  row = g.set.content.row(F)!;
  t.same(blocksOf(row.blocks), [hex(hashOf(1)), hex(hashOf(3)), hex(hashOf(2))], 'only block 1 replaced');
  t.equal(row.pending, 2);
  g.apply([{ type: 'truncate', id: F, size: BLOCK_SIZE + 5, tail: hashOf(4), time: 4 }]);
  row = g.set.content.row(F)!;
  t.equal(row.size, BLOCK_SIZE + 5);
  t.same(blocksOf(row.blocks), [hex(hashOf(1)), hex(hashOf(4))], 'cut inside block 1: its new content is the tail; block 2 gone');
  t.equal(row.pending, 3);
  g.apply([{ type: 'truncate', id: F, size: 3 * BLOCK_SIZE, tail: null, time: 5 }]);
  row = g.set.content.row(F)!;
  t.same(blocksOf(row.blocks), [hex(hashOf(1)), hex(hashOf(4)), hex(ZERO_BLOCK)], 'grown: holes');
  t.equal(blockCount(row.size), 3);
  g.apply([{ type: 'truncate', id: F, size: BLOCK_SIZE, tail: hashOf(9), time: 6 }]);
  t.same(blocksOf(g.set.content.row(F)!.blocks), [hex(hashOf(1))], 'a cut on a block boundary keeps whole blocks; no tail is used');
  t.equal(g.set.content.row(F)!.version, null, 'still no version');
});

t.test('commit folds the branch into a version named by its hash', async (t) => {
  const g = await given(t, SETUP);
  g.apply([{ type: 'write', id: F, size: 100, blocks: [[0, hashOf(1)]], time: 2 }]);
  g.apply([{ type: 'commit', id: F, time: 10 }]);
  const row = g.set.content.row(F)!;
  const v1 = versionHash(100, row.blocks);
  t.same(hex(row.version!), hex(v1), 'version = SHA-256 of tag, size and block hashes');
  t.equal(row.pending, 0);
  t.equal(row.commits, 1);
  t.equal(g.set.content.version(v1), undefined, 'no version row: the branch as its entry left it holds the version');
  t.same([...g.set.content.history(F)].map((h) => [hex(h.version), h.size, h.time, h.n, blocksOf(h.blocks!)]), [[hex(v1), 100, 10, 0, [hex(hashOf(1))]]], 'one history row, with its blocks');

  const before = g.set.digests();
  g.apply([{ type: 'commit', id: F, time: 11 }]);
  t.equal(g.set.content.row(F)!.commits, 1, 'a commit with nothing pending adds no version');
  t.same(g.set.digests().find((d) => d.name === 'content'), before.find((d) => d.name === 'content'));

  g.apply([{ type: 'write', id: F, size: 200, blocks: [[0, hashOf(2)]], time: 12 }, { type: 'commit', id: F, time: 13 }]);
  const v2 = g.set.content.row(F)!.version!;
  t.notSame(hex(v2), hex(v1));
  t.equal([...g.set.content.history(F)].length, 2, 'history grows');
  t.same([...g.set.content.history(F)].map((h) => blocksOf(h.blocks!)), [[hex(hashOf(1))], [hex(hashOf(2))]], 'the old version\'s blocks are kept (gc decides)');

  g.apply([{ type: 'write', id: G, size: 100, blocks: [[0, hashOf(1)]], time: 14 }, { type: 'commit', id: G, time: 15 }]);
  t.same(hex(g.set.content.row(G)!.version!), hex(v1), 'the same content in another file: the same version');
  const refs = [...g.set.content.referencedBlocks()].map(hex);
  t.ok(refs.includes(hex(hashOf(1))) && refs.includes(hex(hashOf(2))), 'gc sees the blocks of branches and versions');
});

t.test('history: several commits of a file in one entry, and a write after the last, each with its version, size and time', async (t) => {
  const g = await given(t, SETUP);
  g.apply([{ type: 'write', id: F, size: 100, blocks: [[0, hashOf(1)]], time: 2 }, { type: 'commit', id: F, time: 3 }]);
  const v1 = g.set.content.row(F)!.version!;
  g.apply([
    { type: 'write', id: F, size: 200, blocks: [[0, hashOf(2)]], time: 1_800_000_000_000 },
    { type: 'commit', id: F, time: 1_800_000_000_001 },
    { type: 'write', id: F, size: 300, blocks: [[0, hashOf(3)]], time: 1_800_000_000_002 },
    { type: 'commit', id: F, time: 1_800_000_000_000 },
    { type: 'write', id: F, size: 5, blocks: [[0, hashOf(4)]], time: 1_800_000_000_003 },
  ]);
  const v2 = versionHash(200, g.set.content.version(versionHash(200, Buffer.from(hashOf(2))))!.blocks);
  const v3 = g.set.content.row(F)!.version!;
  t.equal(g.set.content.row(F)!.pending, 1, 'a write after the last commit is pending');
  t.same(
    [...g.set.content.history(F)].map((h) => [hex(h.version), h.size, h.time, h.n]),
    [[hex(v1), 100, 3, 0], [hex(v2), 200, 1_800_000_000_001, 1], [hex(v3), 300, 1_800_000_000_000, 2]],
    'every commit, the ones before the last of its entry with their own version',
  );
  t.same(
    [...g.set.content.history(F)].map((h) => blocksOf(h.blocks!)),
    [[hex(hashOf(1))], [hex(hashOf(2))], [hex(hashOf(3))]],
    'each with its blocks: the versions written over within their entry kept as version rows',
  );
  t.equal(g.set.content.version(v1), undefined, 'the version its entry ended with: no row of its own');
  t.same(blocksOf(g.set.content.version(v3)!.blocks), [hex(hashOf(3))], 'a version written over within its entry: a row');
});

t.test('a first commit of an empty file makes the empty version', async (t) => {
  const g = await given(t, SETUP);
  g.apply([{ type: 'commit', id: F, time: 2 }]);
  const row = g.set.content.row(F)!;
  t.same(hex(row.version!), hex(versionHash(0, new Uint8Array(0))));
  t.equal(row.commits, 1);
});

t.test('content events for an unknown file change nothing', async (t) => {
  const g = await given(t, SETUP);
  const before = g.set.digests().find((d) => d.name === 'content');
  const X = nid(0x99);
  g.apply([
    { type: 'write', id: X, size: 1, blocks: [[0, hashOf(1)]], time: 2 },
    { type: 'truncate', id: X, size: 0, tail: null, time: 2 },
    { type: 'commit', id: X, time: 2 },
  ]);
  t.same(g.set.digests().find((d) => d.name === 'content'), before);
});
