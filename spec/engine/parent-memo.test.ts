/**
 * A removal's parent remembered from one decide to the next (engine/parent-memo.ts): with the
 * memo, unlink and rmdir decide exactly as without it, primed or not, for every path (bad
 * names and trailing slashes included); the parent is resolved once for a row of removals in
 * one directory; and a change of the path generation forgets it (a renamed directory's old
 * path names the new directory there).
 */
import t from 'tap';
import type { FsEvent } from '../../log/index.js';
import { decide, EngineError, type Command, type TreeView } from '../../engine/index.js';
import { ParentMemo } from '../../engine/parent-memo.js';
import { ctx, given, nid } from './helpers/given.js';
import { OWNER, openStore } from './helpers/env.js';

const R = nid(1); // area "home"
const D = nid(2); // /home/d
const S = nid(3); // /home/d/sub (empty)
const F = nid(4); // /home/d/f
const G = nid(5); // /home/d/g
const H = nid(6); // /home/h

const WORLD: FsEvent[] = [
  { type: 'area-create', area: 'home', root: R, mode: 0o755, uid: 0, gid: 0, time: 1 },
  { type: 'mkdir', id: D, parent: R, name: 'd', mode: 0o755, uid: 0, gid: 0, time: 1 },
  { type: 'mkdir', id: S, parent: D, name: 'sub', mode: 0o755, uid: 0, gid: 0, time: 1 },
  { type: 'create', id: F, parent: D, name: 'f', mode: 0o644, uid: 0, gid: 0, time: 1 },
  { type: 'create', id: G, parent: D, name: 'g', mode: 0o644, uid: 0, gid: 0, time: 1 },
  { type: 'create', id: H, parent: R, name: 'h', mode: 0o644, uid: 0, gid: 0, time: 1 },
];

/** What deciding `cmd` gives: its decision or its error's code. */
function outcome(view: TreeView, cmd: Command, memo?: ParentMemo): unknown {
  try {
    return decide(view, cmd, { ...ctx(), ...(memo ? { parents: memo } : {}) });
  } catch (err) {
    if (err instanceof EngineError) return err.code;
    throw err;
  }
}

t.test('with the memo, removals decide as without it, primed by the same parent or not', async (t) => {
  const g = await given(t, WORLD);
  const paths = ['/home/d/f', '/home/d/g', '/home/d/sub', '/home/d', '/home/d/', '/home/d//f', '/home//d/f', '/home/d/.', '/home/d/..', '/home/d/nope', '/home/d/f/x', '/home/h', '/home/h/x', '/home', '/home/', '/', '//home', '/nope/x', `/home/d/${'x'.repeat(300)}`];
  const primers = ['/home/d/f', '/home/d/', '/home/h', '/home//d/g', '/nope/x'];
  for (const type of ['unlink', 'rmdir'] as const) {
    for (const primer of primers) {
      for (const path of paths) {
        const memo = new ParentMemo(() => 0);
        outcome(g.view, { type: 'unlink', path: primer }, memo);
        const cmd: Command = { type, path };
        t.same(outcome(g.view, cmd, memo), outcome(g.view, cmd), `${type} ${path} after ${primer}`);
      }
    }
  }
});

t.test('a row of removals in one directory resolves their parent once', async (t) => {
  const g = await given(t, WORLD);
  let walks = 0;
  const view: TreeView = { ...g.view, areaRoot: (area) => (walks++, g.view.areaRoot(area)) };
  const memo = new ParentMemo(() => 0);
  for (const name of ['f', 'g', 'sub']) {
    const type = name === 'sub' ? 'rmdir' : 'unlink';
    t.same(outcome(view, { type, path: `/home/d/${name}` }, memo), outcome(g.view, { type, path: `/home/d/${name}` }));
  }
  t.equal(walks, 1, 'one walk from the area root');
  outcome(view, { type: 'unlink', path: '/home/h' }, memo);
  t.equal(walks, 2, 'another parent is walked to');
});

t.test('a new path generation forgets the parent', async (t) => {
  const g = await given(t, WORLD);
  let generation = 0;
  let walks = 0;
  const view: TreeView = { ...g.view, areaRoot: (area) => (walks++, g.view.areaRoot(area)) };
  const memo = new ParentMemo(() => generation);
  outcome(view, { type: 'unlink', path: '/home/d/f' }, memo);
  generation++;
  outcome(view, { type: 'unlink', path: '/home/d/g' }, memo);
  t.equal(walks, 2);
});

t.test('through the engine: after the parent is renamed, its old path names the directory made there', async (t) => {
  const { engine } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  for (const name of ['a', 'b']) await engine.run({ type: 'create', path: `/home/d/${name}`, mode: 0o644, owner: OWNER });
  await engine.run({ type: 'unlink', path: '/home/d/a' });
  await engine.run({ type: 'rename', from: '/home/d', to: '/home/old' });
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/d/b', mode: 0o644, owner: OWNER });
  const fresh = engine.stat('/home/d/b').id;
  const decision = await engine.run({ type: 'unlink', path: '/home/d/b' });
  t.equal((decision.events[0] as FsEvent & { type: 'unlink' }).id, fresh, 'the new directory\'s file');
  t.same(engine.readdir('/home/old').map((e) => e.name), ['b'], 'the renamed directory keeps its file');
  await t.rejects(engine.run({ type: 'unlink', path: '/home/d/b' }), { code: 'NOT_FOUND' });
});
