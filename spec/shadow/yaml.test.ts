/**
 * The shadow's YAML: the golden tree (spec/fixtures/shadow/golden, committed, never
 * regenerated to make a test pass) equals what a replay of the fixed golden log writes;
 * every document parses back with the `yaml` package to exactly its record; the emitter's
 * quoting round-trips any string.
 */
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import t from 'tap';
import { emitShadow, parseShadow, quote, replayShadow, sameData, shadowName, treeName, type ShadowDoc } from '../../engine/index.js';
import { buildGolden, openStore, readTree, tempDir } from './helpers.js';

import { versionHash } from '../../projections/index.js';
import { renderShadow, shadowDoc } from '../../engine/shadow/yaml.js';

const EMPTY_HASH = Buffer.from(versionHash(0, new Uint8Array(0))).toString('hex');
const GOLDEN = fileURLToPath(new URL('../fixtures/shadow/golden', import.meta.url));

t.test('a replay of the golden log writes exactly the golden tree', async (t) => {
  const { engine } = await openStore(t);
  await buildGolden(engine);
  const dir = join(await tempDir(t), 'shadow');
  const r = await replayShadow(engine, dir, { mode: 'shadow' });
  t.equal(r.problems, 0);
  const got = await readTree(dir, { skip: (rel) => rel === '.realize-shadow.json' });
  const want = await readTree(GOLDEN);
  t.same(Object.keys(got).sort(), Object.keys(want).sort(), 'the same entries');
  for (const k of Object.keys(want)) t.same(got[k], want[k], k);
});

t.test('every kind of entry: the YAML parses back to the record', async (t) => {
  const { engine } = await openStore(t);
  await buildGolden(engine);
  const dir = join(await tempDir(t), 'shadow');
  await replayShadow(engine, dir, { mode: 'shadow' });
  const tree = await readTree(dir, { skip: (rel) => rel === '.realize-shadow.json' });
  const docs = Object.entries(tree).filter(([, e]) => e.type === 'file').map(([k, e]) => [k, parseShadow(Buffer.from(e.content!, 'base64').toString())] as const);
  const byPath = new Map(docs.map(([k, d]) => [k, d as Record<string, Record<string, unknown>>]));
  const notes = byPath.get('home/docs/notes.txt')!.file!;
  t.match(notes, { path: '/home/docs/notes.txt', owner: 0, group: 0, permissions: '0644', size: 14, nlink: 2, version: 1, pending: 0 });
  t.match(notes.content_hash, /^[0-9a-f]{64}$/);
  t.same(byPath.get('home/hardlink.txt')!.file!.id, notes.id, 'a hard link: the same node');
  t.same(byPath.get('home/docs/empty')!.file, {
    path: '/home/docs/empty', id: '00000000000000000000000000000004', owner: 1000, group: 100, permissions: '0600', size: 0, nlink: 1,
    mtime: '2023-11-14T22:13:24.000Z', ctime: '2023-11-14T22:13:24.000Z',
    content_hash: EMPTY_HASH,
    version: 1, pending: 0,
  }, 'an empty file');
  t.same(byPath.get('home/docs/link-to-notes')!.symlink!.target, 'notes.txt', 'a symlink');
  t.same(byPath.get('home/outside')!.symlink!.target, '../../../etc/passwd', 'a symlink pointing out is data, never followed');
  t.same(byPath.get('home/docs/.realize-dir.yaml')!.directory, {
    path: '/home/docs', id: '00000000000000000000000000000002', owner: 1000, group: 100, permissions: '0750', nlink: 2,
    mtime: '2023-11-14T22:13:25.000Z', ctime: '2023-11-14T22:13:25.000Z',
  }, 'a directory');
  t.same(byPath.get('home/.realize%.realize-dir.yaml')!.file!.path, '/home/.realize-dir.yaml', 'a reserved name is escaped');
  t.same(byPath.get("home/it's \"quoted\": yes")!.file!.path, `/home/it's "quoted": yes`);
  t.same(byPath.get('home/tab\there é ☃')!.file!.path, '/home/tab\there é ☃');
  const fam = byPath.get('fam/data.bin')!.file!;
  t.same(fam.extents, [{ device_uuid: 'edadcb55-e8f8-d700-2ac0-1a15e9459643', offset: 2097152, length: 4194304 }], 'a famfs file has its extents');
  t.notOk('extents' in notes, 'a file without famfs allocations has no extents key');
  // The extents block is laid out exactly as the seed shows it.
  const text = Buffer.from(tree['fam/data.bin']!.content!, 'base64').toString();
  t.match(text, "  extents:\n    - device_uuid: 'edadcb55-e8f8-d700-2ac0-1a15e9459643'\n      offset: 2097152\n      length: 4194304\n");
});

t.test('quote(): any string round-trips through the yaml package', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => (parseShadow(`k: ${quote(s)}\n`) as { k: string }).k === s),
    { numRuns: 3000 },
  );
  t.pass('3000 random strings');
  for (const s of ['', "'", '"', '\\', '#x', '- a', ': b', '\n', '\r\n', '\u0085', '\u2028', '\ufeff', '\x7f', 'a\x00b', 'null', '0644', '1e3', 'true', '~', '@x', '`x', '%x', '  x  ']) {
    t.ok((parseShadow(`k: ${quote(s)}\n`) as { k: string }).k === s, `code points ${[...s].map((c) => c.codePointAt(0)!.toString(16)).join(' ')}`);
  }
});

t.test('random documents parse back to themselves', async (t) => {
  const time = fc.oneof(fc.integer({ min: 0, max: 8.64e15 }).map((ms) => new Date(ms).toISOString()), fc.integer({ min: 8.64e15 + 1, max: Number.MAX_SAFE_INTEGER }));
  const common = { path: fc.string({ unit: 'binary' }), id: fc.string(), owner: fc.nat(0xffffffff), group: fc.nat(0xffffffff), nlink: fc.nat(), mtime: time, ctime: time };
  const doc: fc.Arbitrary<ShadowDoc> = fc.oneof(
    fc.record({ file: fc.record({ ...common, permissions: fc.constantFrom('0644', '0755', '7777'), size: fc.nat(), content_hash: fc.string(), version: fc.nat(), pending: fc.nat() }) }),
    fc.record({ file: fc.record({ ...common, permissions: fc.constant('0600'), size: fc.nat(), content_hash: fc.string(), version: fc.nat(), pending: fc.nat(), extents: fc.array(fc.record({ device_uuid: fc.uuid(), offset: fc.nat(), length: fc.nat() }), { minLength: 1, maxLength: 3 }) }) }),
    fc.record({ directory: fc.record({ ...common, permissions: fc.constant('0755') }) }),
    fc.record({ symlink: fc.record({ ...common, target: fc.string({ unit: 'binary' }) }) }),
  ) as fc.Arbitrary<ShadowDoc>;
  fc.assert(fc.property(doc, (d) => sameData(parseShadow(emitShadow(d)), d)), { numRuns: 500 });
  t.pass('500 random documents');
});

t.test('shadow names escape reserved names one-to-one', async (t) => {
  for (const n of ['a', '.realize', '.realize-dir.yaml', '.realize%x', '.realizeX', '.real']) {
    t.equal(treeName(shadowName(n)), n, n);
  }
  t.equal(treeName('.realize-dir.yaml'), null, 'a reserved name stands for no tree name');
});

t.test('renderShadow (what replay writes) gives the same bytes as emitShadow(shadowDoc(...)) for any record', async (t) => {
  const ms = fc.oneof(fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }), fc.constant(1_700_000_000_000));
  const node = fc.record({
    kind: fc.constantFrom('file' as const, 'dir' as const, 'symlink' as const),
    mode: fc.nat(0o177777),
    uid: fc.nat(0xffffffff),
    gid: fc.nat(0xffffffff),
    atime: ms,
    mtime: ms,
    ctime: ms,
    nlink: fc.nat(),
    area: fc.constant('a'),
    target: fc.string({ unit: 'binary' }),
  });
  const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const content = fc.option(
    fc.record({ size: fc.nat(), blocks: fc.uint8Array({ maxLength: 96 }), version: fc.option(hash, { nil: null }), pending: fc.nat(3), commits: fc.nat() }),
    { nil: undefined },
  );
  const extents = fc.option(fc.array(fc.record({ device: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')), offset: fc.nat(), length: fc.nat() }), { maxLength: 3 }), { nil: undefined });
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('hex')), node, content, extents, (path, id, n, c, e) => {
      const want = emitShadow(shadowDoc(path, id, n, c, e));
      // Twice: the second rendering goes through the remembered time.
      return renderShadow(path, id, n, c, e) === want && renderShadow(path, id, n, c, e) === want;
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 random records');
});
