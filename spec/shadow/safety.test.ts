/**
 * Replay never writes outside DIR. Bad names are refused when logged (validateEvent); if met
 * anyway in the projections (a crafted LMDB row) they are reported and skipped; symlinks in
 * the tree are never followed (YAML in --shadow, symlink(2) in --into); a symlink already in
 * DIR where a directory or file belongs is removed, never followed.
 */
import { mkdir, readFile, readlink, lstat, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import type { Database, Key } from 'lmdb';
import { replayShadow } from '../../engine/index.js';
import { projectionSource } from '../../engine/shadow/source.js';
import { LogError, validateEvent } from '../../log/index.js';
import { nid, openStore, OWNER, putFile, readTree, tempDir } from './helpers.js';

const BAD_NAMES = ['..', '.', '', 'a/b', '/etc', '../../x', 'nul\0x', 'x'.repeat(256)];

t.test('validateEvent refuses every name that could leave a directory', async (t) => {
  const base = { id: nid(1), parent: nid(2), mode: 0o644, uid: 0, gid: 0, time: 1 };
  for (const name of BAD_NAMES) {
    for (const e of [
      { type: 'create', ...base, name },
      { type: 'mkdir', ...base, name },
      { type: 'symlink', ...base, name, target: 'x' },
      { type: 'link', id: nid(1), parent: nid(2), name, time: 1 },
      { type: 'rename', id: nid(1), parent: nid(2), name: 'ok', newParent: nid(3), newName: name, time: 1 },
    ]) {
      t.throws(() => validateEvent(e), LogError, `${e.type} ${JSON.stringify(name.slice(0, 12))}`);
    }
  }
  t.throws(() => validateEvent({ type: 'area-create', area: '..', root: nid(1), mode: 0o755, uid: 0, gid: 0, time: 1 }), LogError, 'area ..');
  t.throws(() => validateEvent({ type: 'famfs-device', area: '../x', device: nid(1), size: 1 << 30, time: 1 }), LogError, 'famfs-device area');
});

t.test('crafted rows with unsafe names: reported, skipped, nothing written outside DIR', async (t) => {
  const { engine } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  const victim = await putFile(engine, '/home/victim', 'payload');
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  const home = engine.stat('/home').id;
  const d = engine.stat('/home/d').id;
  // Rows the log could never make: dirents named '..', '../../escape', '/abs', and a cycle.
  // Through the projection's own handles: its rows' key and value encodings.
  const db = (name: string): Database<unknown, Key> => engine.projections.tree.dbs.find(([n]) => n === name)![1];
  const dirents = db('tree-dirents');
  // Directory entries are keyed by the directory's inode key (inode-table.ts keyOf).
  const homeKey = engine.projections.inodes.keyOf(home)!;
  const dKey = engine.projections.inodes.keyOf(d)!;
  for (const name of ['..', '../../escape', '/abs', '.']) await dirents.put(`${homeKey}/${name}`, { id: victim, kind: 'file' });
  await dirents.put(`${dKey}/loop`, { id: home, kind: 'dir' });
  const areas = db('tree-areas');
  await areas.put('..', home);
  const sandbox = await tempDir(t);
  const before = await readTree(sandbox);
  for (const mode of ['shadow', 'into'] as const) {
    const dir = join(sandbox, 'out', mode);
    await mkdir(join(sandbox, 'out'), { recursive: true });
    const problems: string[] = [];
    const r = await replayShadow(engine, dir, { mode, onProblem: (p) => problems.push(`${p.path}: ${p.reason}`) });
    t.ok(problems.some((p) => p.includes('unsafe area name')), `${mode}: the area '..' reported`);
    t.ok(problems.filter((p) => p.includes('unsafe name')).length >= 4, `${mode}: each unsafe dirent reported`);
    t.ok(problems.some((p) => p.includes('reached a second time')), `${mode}: the cycle reported`);
    t.equal(r.problems, problems.length);
  }
  const after = await readTree(sandbox, { skip: (rel) => rel.startsWith('out') });
  t.same(after, before, 'nothing appeared beside the replays');
  const tree = await readTree(join(sandbox, 'out'));
  t.ok(Object.keys(tree).every((k) => /^(shadow|into)(\/|$)/.test(k)), 'everything stays inside DIR');
  t.notOk(Object.keys(tree).some((k) => k.includes('escape') || k.includes('abs')), 'no escaped entry anywhere');
});

t.test('symlinks are never followed: not in the tree, not in DIR', async (t) => {
  const { engine } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  await putFile(engine, '/home/d/f', 'inside');
  await putFile(engine, '/home/g', 'inside too');
  await engine.run({ type: 'symlink', path: '/home/out', target: '../../outside/secret', owner: OWNER });
  const sandbox = await tempDir(t);
  const outside = join(sandbox, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'untouched');
  for (const mode of ['shadow', 'into'] as const) {
    const dir = join(sandbox, mode);
    await replayShadow(engine, dir, { mode });
    // Plant symlinks to the outside where a directory and a file belong, then replay again.
    await rm(join(dir, 'home/d'), { recursive: true });
    await symlink(outside, join(dir, 'home/d'));
    await rm(join(dir, 'home/g'));
    await symlink(join(outside, 'secret'), join(dir, 'home/g'));
    const problems: string[] = [];
    await replayShadow(engine, dir, { mode, onProblem: (p) => problems.push(p.reason) });
    t.ok((await lstat(join(dir, 'home/d'))).isDirectory(), `${mode}: a real directory again`);
    t.notOk((await lstat(join(dir, 'home/g'))).isSymbolicLink(), `${mode}: a real file again`);
    t.ok(problems.some((p) => p.includes('not followed')), `${mode}: the planted symlink reported`);
    t.same((await readTree(outside)), { secret: { type: 'file', content: Buffer.from('untouched').toString('base64') } }, `${mode}: the outside untouched`);
  }
  t.equal(await readlink(join(sandbox, 'into/home/out')), '../../outside/secret', '--into: a symlink, made, never resolved');
  t.match(await readFile(join(sandbox, 'shadow/home/out'), 'utf8'), /^symlink:\n/, '--shadow: a YAML document');
});

t.test('a document the writer thread cannot write fails the replay (named), and leaves no thread running', async (t) => {
  const { engine } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await putFile(engine, '/home/a', 'a');
  const home = engine.stat('/home').id;
  const a = engine.stat('/home/a').id;
  // A crafted source whose directory lists the same name twice: the second create meets the first.
  const source = { ...projectionSource(engine.projections), children: (parent: string) => (parent === home ? [{ name: 'a', id: a }, { name: 'a', id: a }] : []) };
  const dir = join(await tempDir(t), 'out');
  await t.rejects(replayShadow(engine, dir, { mode: 'shadow', source }), /cannot write .*home\/a: EEXIST/);
  // The threads are gone: the same replay with the real tree works and verifies.
  await rm(dir, { recursive: true });
  const r = await replayShadow(engine, dir, { mode: 'shadow' });
  t.equal(r.written, 2, 'the area root document and the file');
});
