/**
 * The mount's directory cache (mount/dir-cache.ts), against the engine alone (no FUSE): it
 * answers every path as engine.head.stat does, errors included, and never serves a directory
 * id after a change that moved or removed it.
 */
import t, { type Test } from 'tap';
import type { EngineError, Engine } from '../../engine/index.js';
import { DirCache } from '../../mount/dir-cache.js';
import { OWNER, openStore } from '../engine/helpers/env.js';

function same(t: Test, engine: Engine, cache: DirCache, path: string): void {
  let want: unknown;
  let got: unknown;
  try {
    want = engine.head.stat(path);
  } catch (err) {
    want = (err as EngineError).code;
  }
  try {
    got = cache.stat(path);
  } catch (err) {
    got = (err as EngineError).code;
  }
  t.same(got, want, `stat ${JSON.stringify(path)}`);
  let found: unknown;
  try {
    found = cache.find(path) ?? 'NOT_FOUND';
  } catch (err) {
    found = (err as EngineError).code;
  }
  t.same(found, want, `find ${JSON.stringify(path)} (undefined where stat says NOT_FOUND)`);
  if (typeof want !== 'string') t.equal(cache.idOf(path), engine.head.idOf(path), `idOf ${JSON.stringify(path)}`);
}

t.test('answers as the head does, before and after directories move and go', async (t) => {
  const { engine } = await openStore(t);
  const cache = new DirCache(engine);
  const run = (cmd: Parameters<Engine['run']>[0]) => engine.run(cmd);
  await run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await run({ type: 'mkdir', path: '/home/a', mode: 0o755, owner: OWNER });
  await run({ type: 'mkdir', path: '/home/a/b', mode: 0o755, owner: OWNER });
  await run({ type: 'create', path: '/home/a/b/f', mode: 0o644, owner: OWNER });
  await run({ type: 'symlink', path: '/home/a/l', target: 'b', owner: OWNER });
  const paths = ['/', `/home/a/${'n'.repeat(256)}`, `/home/a/b/${'n'.repeat(256)}`, '/home/a/b/f\0', '/home/a/b/g\0', '/home/a/b/nope', '/home', '/nope', '/home/a', '/home/a/b', '/home/a/b/f', '/home/a/b/f/x', '/home/a/l', '/home/a/l/f', '/home/a/x', '/home/x/y', '/home/c/b/f', '/home/c/b'];
  for (const p of paths) same(t, engine, cache, p);

  await run({ type: 'rename', from: '/home/a', to: '/home/c' });
  for (const p of paths) same(t, engine, cache, p);

  await run({ type: 'unlink', path: '/home/c/b/f' });
  await run({ type: 'rmdir', path: '/home/c/b' });
  await run({ type: 'mkdir', path: '/home/c/b', mode: 0o700, owner: OWNER });
  await run({ type: 'create', path: '/home/c/b/f', mode: 0o600, owner: OWNER });
  for (const p of paths) same(t, engine, cache, p);
  t.equal(cache.stat('/home/c/b').mode, 0o700, 'the new directory, not the one removed');

  await run({ type: 'create', path: '/home/c/b/g', mode: 0o644, owner: OWNER });
  t.equal(cache.stat('/home/c/b/g').kind, 'file', 'a file created under a cached directory is found');
  await run({ type: 'unlink', path: '/home/c/b/g' });
  t.throws(() => cache.stat('/home/c/b/g'), { code: 'NOT_FOUND' }, 'and gone once unlinked');
});
