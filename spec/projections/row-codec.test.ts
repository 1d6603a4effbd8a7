/**
 * The compact node-record encoding (row-codec.ts) gives back exactly what was written: every
 * field, optional ones absent when they were, times that are not integers or far apart,
 * parents that are not 32 hex digits; and the three shapes of a versioned row.
 */
import t from 'tap';
import type { NodeRecord } from '../../projections/index.js';
import { nodeRecordCodec, versionedEncoder } from '../../projections/row-codec.js';

const enc = versionedEncoder(nodeRecordCodec);
const round = (v: unknown): unknown => enc.decode(enc.encode(v));

const file: NodeRecord = {
  kind: 'file', mode: 0o644, uid: 1000, gid: 1000, atime: 1767225600000, mtime: 1767225600000, ctime: 1767225601000,
  nlink: 1, area: 'home', parent: 'ab'.repeat(16), name: 'f.txt',
};

t.test('node records round-trip in every shape', async (t) => {
  const cases: NodeRecord[] = [
    file,
    { kind: 'dir', mode: 0o755, uid: 0, gid: 0, atime: 5, mtime: 5, ctime: 5, nlink: 2, area: 'home' },
    { kind: 'symlink', mode: 0o777, uid: 4294967294, gid: 65534, atime: -1.5, mtime: 2 ** 52, ctime: 0.25, nlink: 0, area: 'ü', target: '../x\n', parent: 'not-hex', name: '' },
    { ...file, atime: -8.64e15, mtime: 8.64e15, ctime: -0 },
    { ...file, parent: 'AB'.repeat(16), name: 'ünïcødé 🙂' },
    { ...file, mtime: Number.MAX_SAFE_INTEGER, ctime: -Number.MAX_SAFE_INTEGER },
  ];
  for (const v of cases) {
    t.same(round(v), v, `bare ${JSON.stringify(v)}`);
    t.same(round([1234567, v]), [1234567, v], 'stamped');
    const back = round(v) as Record<string, unknown>;
    for (const k of ['target', 'parent', 'name']) t.equal(k in back, k in v, `${k} present only when written`);
  }
  t.ok(Object.is((round({ ...file, ctime: -0 }) as NodeRecord).ctime, -0), '-0 stays -0');
  t.equal(round(null), null, 'a tombstone');
  t.ok(enc.encode(file).length < 60, `a file's record takes ${enc.encode(file).length} bytes`);
});

t.test('a superseded node record as its differences from the one that replaced it gives back the record exactly', async (t) => {
  const { applyDelta, DeltaOf, StoredDelta } = await import('../../projections/row-codec.js');
  const pairs: Array<[NodeRecord, NodeRecord]> = [
    [file, file],
    [file, { ...file, mtime: file.mtime + 5000, ctime: file.ctime + 5000 }],
    [file, { ...file, mode: 0o600, uid: 0, gid: 0, nlink: 0, area: 'other', name: 'g', parent: 'cd'.repeat(16) }],
    [file, { ...file, kind: 'symlink', target: 'x' }],
    [{ ...file, target: 'old' }, file],
    [{ kind: 'dir', mode: 0o755, uid: 0, gid: 0, atime: 5, mtime: 5, ctime: 5, nlink: 2, area: 'home' }, { ...file, kind: 'dir', nlink: 3 }],
    [{ ...file, parent: 'not-hex', atime: -1.5, mtime: 2 ** 60, ctime: -0 }, file],
    [file, { ...file, parent: 'not-hex', atime: 0.25, ctime: Number.MAX_SAFE_INTEGER }],
    [{ ...file, name: 'ünïcødé 🙂' }, file],
  ];
  for (const [before, after] of pairs) {
    const stored = enc.decode(enc.encode(new DeltaOf(before, after)));
    t.ok(stored instanceof StoredDelta, 'read back as a delta');
    const back = applyDelta(nodeRecordCodec, stored as InstanceType<typeof StoredDelta>, after);
    t.same(back, before, `${JSON.stringify(before)} from ${JSON.stringify(after)}`);
    for (const k of ['target', 'parent', 'name']) t.equal(k in back, k in before, `${k} present only when it was`);
    t.ok(Object.is(back.ctime, before.ctime), 'ctime exactly (-0 too)');
  }
  const touched = enc.encode(new DeltaOf(file, { ...file, mtime: file.mtime + 5000, ctime: file.ctime + 5000 }));
  t.ok(touched.length <= 8, `a record whose times moved takes ${touched.length} bytes as a delta (${enc.encode(file).length} whole)`);
});

t.test('a committed branch row leaves its version out and makes it again from its blocks; `last` as numbers when it can', async (t) => {
  const { contentRowCodec } = await import('../../projections/row-codec.js');
  const { versionHash } = await import('../../projections/index.js');
  const rows = versionedEncoder(contentRowCodec);
  const blocks = Buffer.from(new Uint8Array(64).map((_, i) => i + 1));
  const committed = { size: 200000, blocks, version: versionHash(200000, blocks), pending: 0, commits: 3, last: '123456.7' };
  const bytes = rows.encode([9, committed]);
  const back = rows.decode(bytes) as [number, Record<string, unknown>];
  t.same(back, [9, committed], 'the same row, version included');
  t.same(Object.keys(back[1]), ['size', 'blocks', 'pending', 'commits', 'last'], 'the stored fields in their order; the version is made when asked for');
  t.same(back[1]['version'], committed.version, 'asked for, the version is the hash of the size and blocks');
  t.notOk('version' in { ...back[1] }, 'a spread leaves the made version out (content.ts names it when it makes a row from one)');
  const handMade = { ...committed, version: Buffer.alloc(32, 3) };
  t.same(rows.decode(rows.encode(handMade)), handMade, 'a version it did not make is kept as written');
  t.ok(bytes.length + 30 < rows.encode(handMade).length, `${bytes.length} bytes without the version, ${rows.encode(handMade).length} with it`);
  for (const last of ['0.0', '1.2.3', '99999999999999.123.4', '', '01.2', '1.2.0', '1.2.3.4', 'x', '1e3.1']) {
    const row = { size: 1, blocks, version: null, pending: 1, commits: 0, last };
    t.same(rows.decode(rows.encode(row)), row, `last ${JSON.stringify(last)}`);
  }
  // The stored form (byte 0: the bare-row tag; byte 1: the flags, 8 = `last` as three varints).
  const asNumbers = (last: string): boolean => (rows.encode({ size: 1, blocks, version: null, pending: 1, commits: 0, last })[1]! & 8) !== 0;
  for (const last of ['0.0', '1.2', '12.0.3', '10.10.10', '123456789012345.1', '999999999999999.999999999999999.999999999999999']) t.ok(asNumbers(last), `${last} as numbers`);
  for (const last of ['', '1', '01.2', '1.02', '1.2.0', '1.2.03', '1.2.', '.1.2', '1..2', '1.2.3.4', '1234567890123456.1', 'a.b', '1.2 ', '1e3.1']) t.notOk(asNumbers(last), `${JSON.stringify(last)} as text`);
});

t.test('a branch a commit makes (CommittedRow) is stored as the same bytes without its version ever being hashed', async (t) => {
  const { contentRowCodec, CommittedRow } = await import('../../projections/row-codec.js');
  const { versionHash } = await import('../../projections/index.js');
  const rows = versionedEncoder(contentRowCodec);
  const blocks = Buffer.from(new Uint8Array(96).map((_, i) => 255 - i));
  const eager = { size: 70000, blocks, version: versionHash(70000, blocks), pending: 0, commits: 2, last: '41.3' };
  let asked = 0;
  class Counted extends CommittedRow {
    override get version(): Uint8Array {
      asked++;
      return super.version;
    }
  }
  const lazy = new Counted(70000, blocks, 0, 2, '41.3');
  const bytes = Buffer.from(rows.encode([5, lazy]));
  t.equal(asked, 0, 'writing it did not ask for its version');
  t.same(bytes, Buffer.from(rows.encode([5, eager])), 'the bytes of the same branch with its version made by hashing');
  t.same(hexOf(lazy.version), hexOf(eager.version), 'asked for, its version is the hash of its size and blocks');
});

const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('decoding reads only up to the end it is given (lmdb-js reuses its buffers)', async (t) => {
  const bytes = enc.encode([7, file]);
  const big = Buffer.alloc(bytes.length + 50, 0xee);
  bytes.copy(big);
  t.same(enc.decode(big, bytes.length), [7, file]);
  t.throws(() => enc.decode(bytes, bytes.length - 3), 'a value cut short is an error');
});

t.test('content rows and commit rows round-trip, with copies of their bytes', async (t) => {
  const { contentRowCodec, commitRowCodec, plainEncoder } = await import('../../projections/row-codec.js');
  const rows = versionedEncoder(contentRowCodec);
  const blocks = Buffer.from(new Uint8Array(96).map((_, i) => i));
  const version = Buffer.alloc(32, 9);
  const cases = [
    { size: 0, blocks: Buffer.alloc(0), version: null, pending: 0, commits: 0 },
    { size: 70000, blocks, version, pending: 2, commits: 17, last: '1234.5.2' },
    { size: 1.5, blocks, version: null, pending: 1, commits: 0, last: '' },
  ];
  for (const v of cases) t.same(rows.decode(rows.encode([3, v])), [3, v], `row ${v.size}`);
  const bytes = rows.encode(cases[1]);
  const back = rows.decode(bytes) as { blocks: Uint8Array };
  bytes.fill(0);
  t.same(back.blocks, blocks, 'the block list is a copy, not a view of the (reused) buffer');
  const commits = plainEncoder(commitRowCodec);
  const c = { version, size: 1048576, time: 1767225600000 };
  t.same(commits.decode(commits.encode(c)), c, 'a commit row');
});

t.test('current rows carry their earlier changes; removed rows their changes alone', async (t) => {
  const earlier = Uint8Array.of(1, 200, 3, 7);
  t.same(round([9, file, earlier]), [9, file, earlier], 'a current row with the differences to its earlier changes');
  t.same(round([9, null, earlier]), [9, null, earlier], 'a removed row: its removal and earlier changes, no value');
  t.same(round([9, null]), [9, null], 'a row removed at its only change');
  t.same(round(earlier), earlier, 'archived changes: bytes as they are');
  t.equal(enc.encode([9, file]).length, enc.encode(file).length + 2, 'no list: one byte for its (zero) length');
});

t.test('directory changes and listings round-trip, ids of 32 hex digits as 16 bytes', async (t) => {
  const { nameListCodec, plainEncoder } = await import('../../projections/row-codec.js');
  const names = plainEncoder(nameListCodec);
  const id = 'ab'.repeat(16);
  const v = ['f', id, 'ünï 🙂', null, '', 'root', 'g', 'AB'.repeat(16)];
  t.same(names.decode(names.encode(v)), v);
  t.equal(names.encode(['f', id]).length, 1 + 2 + 1 + 16, 'one name and a hex id');
});

t.test('a value lmdb-js writes at once goes into one shared buffer, within its start and end; anything else gets its own', async (t) => {
  const { plainEncoder, inodeRowCodec } = await import('../../projections/row-codec.js');
  const plain = plainEncoder(inodeRowCodec);
  t.equal((enc as unknown as { copyBuffers?: boolean }).copyBuffers, true, 'lmdb-js is told to pass its mode');
  const bounds = (b: Buffer): Buffer => {
    const { start, end } = b as Buffer & { start: number; end: number };
    return Buffer.from(b.buffer, start, end - start);
  };
  const RESET = 1024 | 512;
  const a = enc.encode(file, RESET);
  const aBytes = Buffer.from(bounds(a));
  t.same(aBytes, enc.encode(file), 'the same bytes as a fresh encoding (lmdb-js reads from the ArrayBuffer at start)');
  const b = plain.encode({ ino: 300, gen: 2 }, RESET);
  t.equal(b.buffer, a.buffer, 'every encoder shares the buffer');
  t.same(plain.decode(bounds(b)), { ino: 300, gen: 2 }, 'the next value, written over it');
  const own1 = enc.encode(file, 512);
  const own2 = enc.encode(file);
  t.not(own1.buffer, a.buffer, 'an asynchronous put (no reset) gets its own buffer');
  t.not(own2.buffer, a.buffer, 'a direct encode gets its own buffer');
  t.same(enc.decode(own1), file);
  const long = { ...file, name: 'x'.repeat(5000) };
  t.same(enc.decode(bounds(enc.encode(long, RESET))), long, 'a value larger than the buffer grows it');
});

t.test('kept content versions round-trip, their block hashes copied', async (t) => {
  const { versionRowCodec, plainEncoder } = await import('../../projections/row-codec.js');
  const versions = plainEncoder(versionRowCodec);
  for (const v of [{ size: 0, blocks: new Uint8Array(0) }, { size: 5, blocks: new Uint8Array(32).fill(7) }, { size: 2 ** 40 + 3, blocks: new Uint8Array(32 * 9).map((_, i) => i) }]) {
    const bytes = Buffer.from(versions.encode(v));
    const back = versions.decode(bytes);
    t.same({ size: back.size, blocks: [...back.blocks] }, { size: v.size, blocks: [...v.blocks] }, `${v.size} bytes in ${v.blocks.byteLength / 32} blocks`);
    bytes.fill(0);
    t.same([...back.blocks], [...v.blocks], 'the decoded hashes do not share the buffer read');
    t.ok(bytes.length <= v.blocks.byteLength + 12, `${bytes.length} bytes stored`);
  }
});
