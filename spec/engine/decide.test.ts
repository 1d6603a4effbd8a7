/**
 * The decider, given / when / then: given prior events applied to a fresh ProjectionSet,
 * when a command is decided against a TreeView over it (ids and time from a fixed context),
 * then exactly these events (and the area whose feed takes them), or exactly this error.
 * Every command of engine/commands.ts, each success and each way it can fail.
 */
import t, { type Test } from 'tap';
import { NAME_MAX, PATH_MAX, XATTR_VALUE_MAX, type FsEvent } from '../../log/index.js';
import { decide, EngineError, type Command, type Decision, type EngineErrorCode } from '../../engine/index.js';
import { ctx, given, hashOf, nid, type Given } from './helpers/given.js';

const T0 = 1000;
const NOW = 2000;
const NEW = nid(0x100); // the first id the context hands out
const OWNER = { uid: 1000, gid: 100 };

const R = nid(1); // area "home"
const D = nid(2); // /home/d
const S = nid(3); // /home/d/sub (empty dir)
const F = nid(4); // /home/d/f, also linked as /home/f2
const G = nid(5); // /home/g (xattr user.tag)
const L = nid(6); // /home/l -> g
const E = nid(7); // /home/empty
const W = nid(8); // area "work"
const WD = nid(9); // /work/w
const GONE = nid(10); // a file whose only name was unlinked (nlink 0)
const GONE_DIR = nid(11); // a directory that was removed

/** An event without its time (Omit distributed over the union). */
type Untimed<E = FsEvent> = E extends unknown ? Omit<E, 'time'> : never;

const at = (e: Untimed): FsEvent => ({ ...e, time: T0 }) as FsEvent;

/** The world every case starts from. */
const WORLD: FsEvent[] = [
  at({ type: 'area-create', area: 'home', root: R, mode: 0o755, uid: 0, gid: 0 }),
  at({ type: 'mkdir', id: D, parent: R, name: 'd', mode: 0o755, uid: 0, gid: 0 }),
  at({ type: 'mkdir', id: S, parent: D, name: 'sub', mode: 0o755, uid: 0, gid: 0 }),
  at({ type: 'create', id: F, parent: D, name: 'f', mode: 0o644, uid: 0, gid: 0 }),
  at({ type: 'link', id: F, parent: R, name: 'f2' }),
  at({ type: 'create', id: G, parent: R, name: 'g', mode: 0o600, uid: 0, gid: 0 }),
  at({ type: 'setxattr', id: G, name: 'user.tag', value: new Uint8Array([1]) }),
  at({ type: 'symlink', id: L, parent: R, name: 'l', target: 'g', uid: 0, gid: 0 }),
  at({ type: 'mkdir', id: E, parent: R, name: 'empty', mode: 0o700, uid: 0, gid: 0 }),
  at({ type: 'area-create', area: 'work', root: W, mode: 0o755, uid: 0, gid: 0 }),
  at({ type: 'mkdir', id: WD, parent: W, name: 'w', mode: 0o755, uid: 0, gid: 0 }),
  at({ type: 'create', id: GONE, parent: R, name: 'gone', mode: 0o644, uid: 0, gid: 0 }),
  at({ type: 'unlink', id: GONE, parent: R, name: 'gone' }),
  at({ type: 'mkdir', id: GONE_DIR, parent: R, name: 'gone-dir', mode: 0o755, uid: 0, gid: 0 }),
  at({ type: 'rmdir', id: GONE_DIR, parent: R, name: 'gone-dir' }),
];

type Then = { area: string; events: FsEvent[] } | { error: EngineErrorCode } | 'nothing';

/** The world, built once: deciding never changes it (the purity test below checks that). */
let world: Promise<Given> | undefined;
const top = t;

async function when(t: Test, cmd: Command, then: Then): Promise<void> {
  const g = await (world ??= given(top, WORLD));
  let decision: Decision;
  try {
    decision = decide(g.view, cmd, ctx(NOW));
  } catch (err) {
    if (!(err instanceof EngineError)) throw err;
    if (typeof then === 'object' && 'error' in then) {
      t.equal(err.code, then.error, `refused: ${err.message}`);
      t.ok(err.message.length > 0, 'with a message');
    } else t.fail(`unexpected ${err.code}: ${err.message}`);
    return;
  }
  if (then === 'nothing') t.same(decision.events, [], 'no events: nothing to do');
  else if ('error' in then) t.fail(`expected ${then.error}, got ${JSON.stringify(decision.events)}`);
  else {
    t.same(decision.events, then.events, 'exactly these events');
    t.equal(decision.area, then.area, `in the feed of area ${then.area}`);
  }
}

const err = (error: EngineErrorCode): Then => ({ error });
const home = (...events: FsEvent[]): Then => ({ area: 'home', events });
const ev = (e: Untimed): FsEvent => ({ ...e, time: NOW }) as FsEvent;

t.test('the world is what the cases assume', async (t) => {
  const g = await given(t, WORLD);
  t.equal(g.view.areaRoot('home'), R);
  t.equal(g.view.child(D, 'f'), F);
  t.equal(g.view.child(R, 'f2'), F);
  t.equal(g.view.node(F)?.nlink, 2);
  t.equal(g.view.node(GONE)?.nlink, 0);
  t.equal(g.view.node(GONE_DIR)?.nlink, 0);
  t.equal(g.view.child(R, 'gone'), undefined);
});

t.test('create', async (t) => {
  const create = (path: string, extra: Partial<Extract<Command, { type: 'create' }>> = {}): Command => ({ type: 'create', path, mode: 0o100644, owner: OWNER, ...extra });
  t.test('a new file: its id from the context, the mode without the type bits', (t) =>
    when(t, create('/home/d/new'), home(ev({ type: 'create', id: NEW, parent: D, name: 'new', mode: 0o644, uid: 1000, gid: 100 }))));
  t.test('special bits are kept (07777)', (t) =>
    when(t, create('/home/x', { mode: 0o104755 }), home(ev({ type: 'create', id: NEW, parent: R, name: 'x', mode: 0o4755, uid: 1000, gid: 100 }))));
  t.test('repeated and trailing slashes are dropped', (t) =>
    when(t, create('//home//d/new/'), home(ev({ type: 'create', id: NEW, parent: D, name: 'new', mode: 0o644, uid: 1000, gid: 100 }))));
  t.test('in the other area: its feed', (t) =>
    when(t, create('/work/w/n'), { area: 'work', events: [ev({ type: 'create', id: NEW, parent: WD, name: 'n', mode: 0o644, uid: 1000, gid: 100 })] }));
  t.test('a name of exactly NAME_MAX bytes', (t) =>
    when(t, create(`/home/${'n'.repeat(NAME_MAX)}`), home(ev({ type: 'create', id: NEW, parent: R, name: 'n'.repeat(NAME_MAX), mode: 0o644, uid: 1000, gid: 100 }))));
  t.test('EEXIST: a file is there', (t) => when(t, create('/home/d/f'), err('EXISTS')));
  t.test('EEXIST: a directory is there', (t) => when(t, create('/home/d/sub'), err('EXISTS')));
  t.test('EEXIST: a symlink is there', (t) => when(t, create('/home/l'), err('EXISTS')));
  t.test('EEXIST even when not exclusive (the caller opens what is there)', (t) => when(t, create('/home/g', { exclusive: false }), err('EXISTS')));
  t.test('ENOENT: the parent is missing', (t) => when(t, create('/home/nope/x'), err('NOT_FOUND')));
  t.test('ENOENT: the area is missing', (t) => when(t, create('/nope/x'), err('NOT_FOUND')));
  t.test('ENOENT: a removed directory is not a parent', (t) => when(t, create('/home/gone-dir/x'), err('NOT_FOUND')));
  t.test('ENOTDIR: the parent is a file', (t) => when(t, create('/home/g/x'), err('NOT_A_DIRECTORY')));
  t.test('ENOTDIR: a component on the way is a file', (t) => when(t, create('/home/g/x/y'), err('NOT_A_DIRECTORY')));
  t.test('ENOTDIR: symlinks are not followed', (t) => when(t, create('/home/l/x'), err('NOT_A_DIRECTORY')));
  t.test('EPERM: only areas live at the root', (t) => when(t, create('/x'), err('NOT_PERMITTED')));
  t.test('INVALID: the root itself', (t) => when(t, create('/'), err('INVALID')));
  t.test('INVALID: "."', (t) => when(t, create('/home/d/.'), err('INVALID')));
  t.test('INVALID: ".."', (t) => when(t, create('/home/d/..'), err('INVALID')));
  t.test('INVALID: ".." inside the path', (t) => when(t, create('/home/d/../x'), err('INVALID')));
  t.test('INVALID: NUL', (t) => when(t, create('/home/a\0b'), err('INVALID')));
  t.test('"/" cannot be part of a name: it separates components', (t) => when(t, create('/home/no/such'), err('NOT_FOUND')));
  t.test('NAME_TOO_LONG: NAME_MAX + 1 bytes', (t) => when(t, create(`/home/${'n'.repeat(NAME_MAX + 1)}`), err('NAME_TOO_LONG')));
  t.test('NAME_TOO_LONG: counted in UTF-8 bytes, not characters', (t) => when(t, create(`/home/${'é'.repeat(128)}`), err('NAME_TOO_LONG')));
  t.test('NAME_TOO_LONG: a path over PATH_MAX bytes', (t) => when(t, create(`/home/${'a/'.repeat(PATH_MAX / 2)}x`), err('NAME_TOO_LONG')));
  t.test('INVALID: an owner outside 0..2^32-1 is refused before it reaches the log', (t) =>
    when(t, { type: 'create', path: '/home/x', mode: 0o644, owner: { uid: -1, gid: 0 } }, err('INVALID')));
});

t.test('mkdir', async (t) => {
  const mkdir = (path: string, mode = 0o40755): Command => ({ type: 'mkdir', path, mode, owner: OWNER });
  t.test('a directory inside an area', (t) => when(t, mkdir('/home/d/new'), home(ev({ type: 'mkdir', id: NEW, parent: D, name: 'new', mode: 0o755, uid: 1000, gid: 100 }))));
  t.test('at the root: creates an area, in its own feed', (t) =>
    when(t, mkdir('/photos', 0o40750), { area: 'photos', events: [ev({ type: 'area-create', area: 'photos', root: NEW, mode: 0o750, uid: 1000, gid: 100 })] }));
  t.test('EEXIST: the area exists', (t) => when(t, mkdir('/home'), err('EXISTS')));
  t.test('INVALID: an area name outside [a-z0-9-]', (t) => when(t, mkdir('/Photos'), err('INVALID')));
  t.test('INVALID: an area name starting with "-"', (t) => when(t, mkdir('/-x'), err('INVALID')));
  t.test('INVALID: an area name over 64 characters', (t) => when(t, mkdir(`/${'a'.repeat(65)}`), err('INVALID')));
  t.test('EEXIST: a directory is there', (t) => when(t, mkdir('/home/d/sub'), err('EXISTS')));
  t.test('EEXIST: a file is there', (t) => when(t, mkdir('/home/g'), err('EXISTS')));
  t.test('ENOENT: the parent is missing', (t) => when(t, mkdir('/home/a/b'), err('NOT_FOUND')));
  t.test('ENOTDIR: the parent is a file', (t) => when(t, mkdir('/home/g/b'), err('NOT_A_DIRECTORY')));
  t.test('INVALID: ".."', (t) => when(t, mkdir('/home/..'), err('INVALID')));
  t.test('INVALID: "."', (t) => when(t, mkdir('/home/./x'), err('INVALID')));
  t.test('INVALID: NUL', (t) => when(t, mkdir('/home/x\0'), err('INVALID')));
  t.test('NAME_TOO_LONG', (t) => when(t, mkdir(`/home/${'d'.repeat(NAME_MAX + 1)}`), err('NAME_TOO_LONG')));
  t.test('INVALID: the root', (t) => when(t, mkdir('/'), err('INVALID')));
});

t.test('symlink', async (t) => {
  const symlink = (path: string, target: string): Command => ({ type: 'symlink', path, target, owner: OWNER });
  t.test('a symlink (its target is not resolved)', (t) =>
    when(t, symlink('/home/d/ln', '../nowhere'), home(ev({ type: 'symlink', id: NEW, parent: D, name: 'ln', target: '../nowhere', uid: 1000, gid: 100 }))));
  t.test('a target of PATH_MAX bytes', (t) =>
    when(t, symlink('/home/ln', 'x'.repeat(PATH_MAX)), home(ev({ type: 'symlink', id: NEW, parent: R, name: 'ln', target: 'x'.repeat(PATH_MAX), uid: 1000, gid: 100 }))));
  t.test('EEXIST', (t) => when(t, symlink('/home/l', 'x'), err('EXISTS')));
  t.test('ENOENT', (t) => when(t, symlink('/home/no/l', 'x'), err('NOT_FOUND')));
  t.test('ENOTDIR', (t) => when(t, symlink('/home/g/l', 'x'), err('NOT_A_DIRECTORY')));
  t.test('EPERM: at the root', (t) => when(t, symlink('/l', 'x'), err('NOT_PERMITTED')));
  t.test('INVALID: an empty target', (t) => when(t, symlink('/home/ln', ''), err('INVALID')));
  t.test('INVALID: a target with NUL', (t) => when(t, symlink('/home/ln', 'a\0b'), err('INVALID')));
  t.test('INVALID: a target over PATH_MAX bytes', (t) => when(t, symlink('/home/ln', 'x'.repeat(PATH_MAX + 1)), err('INVALID')));
  t.test('NAME_TOO_LONG', (t) => when(t, symlink(`/home/${'l'.repeat(NAME_MAX + 1)}`, 'x'), err('NAME_TOO_LONG')));
});

t.test('link', async (t) => {
  const link = (path: string, newPath: string): Command => ({ type: 'link', path, newPath });
  t.test('a second name for a file', (t) => when(t, link('/home/g', '/home/d/g2'), home(ev({ type: 'link', id: G, parent: D, name: 'g2' }))));
  t.test('a third name (the file has two)', (t) => when(t, link('/home/f2', '/home/f3'), home(ev({ type: 'link', id: F, parent: R, name: 'f3' }))));
  t.test('a symlink can be hard-linked', (t) => when(t, link('/home/l', '/home/d/l2'), home(ev({ type: 'link', id: L, parent: D, name: 'l2' }))));
  t.test('ENOENT: no source', (t) => when(t, link('/home/nope', '/home/x'), err('NOT_FOUND')));
  t.test('ENOENT: the new parent is missing', (t) => when(t, link('/home/g', '/home/no/x'), err('NOT_FOUND')));
  t.test('ENOTDIR: the new parent is a file', (t) => when(t, link('/home/g', '/home/f2/x'), err('NOT_A_DIRECTORY')));
  t.test('EEXIST: the new name is taken', (t) => when(t, link('/home/g', '/home/d/f'), err('EXISTS')));
  t.test('EEXIST: the same name again', (t) => when(t, link('/home/g', '/home/g'), err('EXISTS')));
  t.test('EPERM: directories cannot be hard-linked', (t) => when(t, link('/home/d', '/home/d2'), err('NOT_PERMITTED')));
  t.test('EPERM: nor can an area', (t) => when(t, link('/home', '/work/h'), err('NOT_PERMITTED')));
  t.test('EPERM: a link at the root', (t) => when(t, link('/home/g', '/g'), err('NOT_PERMITTED')));
  t.test('CROSS_AREA: a hard link never spans areas', (t) => when(t, link('/home/g', '/work/w/g'), err('CROSS_AREA')));
  t.test('INVALID: ".." in the new path', (t) => when(t, link('/home/g', '/home/d/..'), err('INVALID')));
  t.test('NAME_TOO_LONG: the new name', (t) => when(t, link('/home/g', `/home/${'g'.repeat(NAME_MAX + 1)}`), err('NAME_TOO_LONG')));
});

t.test('unlink', async (t) => {
  const unlink = (path: string): Command => ({ type: 'unlink', path });
  t.test('a file', (t) => when(t, unlink('/home/g'), home(ev({ type: 'unlink', id: G, parent: R, name: 'g' }))));
  t.test('one of two links', (t) => when(t, unlink('/home/f2'), home(ev({ type: 'unlink', id: F, parent: R, name: 'f2' }))));
  t.test('a symlink (not what it points to)', (t) => when(t, unlink('/home/l'), home(ev({ type: 'unlink', id: L, parent: R, name: 'l' }))));
  t.test('ENOENT', (t) => when(t, unlink('/home/nope'), err('NOT_FOUND')));
  t.test('ENOENT: a name already unlinked', (t) => when(t, unlink('/home/gone'), err('NOT_FOUND')));
  t.test('ENOENT: the parent is missing', (t) => when(t, unlink('/home/no/x'), err('NOT_FOUND')));
  t.test('ENOTDIR: the parent is a file', (t) => when(t, unlink('/home/g/x'), err('NOT_A_DIRECTORY')));
  t.test('EISDIR: a directory', (t) => when(t, unlink('/home/empty'), err('IS_A_DIRECTORY')));
  t.test('EPERM: an area', (t) => when(t, unlink('/home'), err('NOT_PERMITTED')));
  t.test('INVALID: the root', (t) => when(t, unlink('/'), err('INVALID')));
  t.test('INVALID: "."', (t) => when(t, unlink('/home/d/.'), err('INVALID')));
});

t.test('rmdir', async (t) => {
  const rmdir = (path: string): Command => ({ type: 'rmdir', path });
  t.test('an empty directory', (t) => when(t, rmdir('/home/empty'), home(ev({ type: 'rmdir', id: E, parent: R, name: 'empty' }))));
  t.test('a nested empty directory', (t) => when(t, rmdir('/home/d/sub'), home(ev({ type: 'rmdir', id: S, parent: D, name: 'sub' }))));
  t.test('ENOTEMPTY', (t) => when(t, rmdir('/home/d'), err('NOT_EMPTY')));
  t.test('ENOTDIR: a file', (t) => when(t, rmdir('/home/g'), err('NOT_A_DIRECTORY')));
  t.test('ENOTDIR: a symlink', (t) => when(t, rmdir('/home/l'), err('NOT_A_DIRECTORY')));
  t.test('ENOENT', (t) => when(t, rmdir('/home/nope'), err('NOT_FOUND')));
  t.test('ENOENT: removed already', (t) => when(t, rmdir('/home/gone-dir'), err('NOT_FOUND')));
  t.test('EPERM: an area', (t) => when(t, rmdir('/work'), err('NOT_PERMITTED')));
  t.test('INVALID: ".."', (t) => when(t, rmdir('/home/d/sub/..'), err('INVALID')));
});

t.test('rename', async (t) => {
  const rename = (from: string, to: string): Command => ({ type: 'rename', from, to });
  const moved = (id: string, parent: string, name: string, newParent: string, newName: string): Then =>
    home(ev({ type: 'rename', id, parent, name, newParent, newName }));
  t.test('a file, in its directory', (t) => when(t, rename('/home/g', '/home/h'), moved(G, R, 'g', R, 'h')));
  t.test('a file, to another directory', (t) => when(t, rename('/home/g', '/home/d/sub/g'), moved(G, R, 'g', S, 'g')));
  t.test('a file over another file (the target is replaced on apply)', (t) => when(t, rename('/home/g', '/home/d/f'), moved(G, R, 'g', D, 'f')));
  t.test('a file over a symlink', (t) => when(t, rename('/home/g', '/home/l'), moved(G, R, 'g', R, 'l')));
  t.test('a directory, with its subtree', (t) => when(t, rename('/home/d', '/home/empty/d'), moved(D, R, 'd', E, 'd')));
  t.test('a directory over an empty directory', (t) => when(t, rename('/home/d', '/home/empty'), moved(D, R, 'd', R, 'empty')));
  t.test('a symlink', (t) => when(t, rename('/home/l', '/home/d/l'), moved(L, R, 'l', D, 'l')));
  t.test('onto itself: nothing to do', (t) => when(t, rename('/home/g', '/home/g'), 'nothing'));
  t.test('a directory onto itself: nothing to do', (t) => when(t, rename('/home/d', '/home/d'), 'nothing'));
  t.test('onto another link of the same file: nothing to do (POSIX)', (t) => when(t, rename('/home/f2', '/home/d/f'), 'nothing'));
  t.test('INVALID: a directory into its own subtree', (t) => when(t, rename('/home/d', '/home/d/sub/d'), err('INVALID')));
  t.test('INVALID: a directory into itself', (t) => when(t, rename('/home/d', '/home/d/x'), err('INVALID')));
  t.test('ENOTEMPTY: over a directory that has entries', (t) => when(t, rename('/home/empty', '/home/d'), err('NOT_EMPTY')));
  t.test('EISDIR: a file over a directory', (t) => when(t, rename('/home/g', '/home/empty'), err('IS_A_DIRECTORY')));
  t.test('ENOTDIR: a directory over a file', (t) => when(t, rename('/home/empty', '/home/g'), err('NOT_A_DIRECTORY')));
  t.test('ENOENT: no source', (t) => when(t, rename('/home/nope', '/home/x'), err('NOT_FOUND')));
  t.test('ENOENT: no source parent', (t) => when(t, rename('/home/no/x', '/home/x'), err('NOT_FOUND')));
  t.test('ENOENT: no target parent', (t) => when(t, rename('/home/g', '/home/no/x'), err('NOT_FOUND')));
  t.test('ENOTDIR: the target parent is a file', (t) => when(t, rename('/home/g', '/home/f2/x'), err('NOT_A_DIRECTORY')));
  t.test('ENOTDIR: the source parent is a file', (t) => when(t, rename('/home/g/x', '/home/x'), err('NOT_A_DIRECTORY')));
  t.test('CROSS_AREA', (t) => when(t, rename('/home/g', '/work/w/g'), err('CROSS_AREA')));
  t.test('CROSS_AREA: a directory', (t) => when(t, rename('/home/d', '/work/d'), err('CROSS_AREA')));
  t.test('EPERM: an area cannot be renamed', (t) => when(t, rename('/home', '/house'), err('NOT_PERMITTED')));
  t.test('EPERM: nothing moves to the root', (t) => when(t, rename('/home/g', '/g'), err('NOT_PERMITTED')));
  t.test('INVALID: ".." in the target', (t) => when(t, rename('/home/g', '/home/d/..'), err('INVALID')));
  t.test('INVALID: NUL in the source', (t) => when(t, rename('/home/g\0', '/home/x'), err('INVALID')));
  t.test('NAME_TOO_LONG: the new name', (t) => when(t, rename('/home/g', `/home/${'x'.repeat(NAME_MAX + 1)}`), err('NAME_TOO_LONG')));
});

t.test('setattr', async (t) => {
  t.test('mode (without type bits), owner and times; only the fields given', (t) =>
    when(t, { type: 'setattr', id: G, mode: 0o100640, uid: 5, gid: 6, atime: 11, mtime: 12 }, home(ev({ type: 'setattr', id: G, mode: 0o640, uid: 5, gid: 6, atime: 11, mtime: 12 }))));
  t.test('just the mtime', (t) => when(t, { type: 'setattr', id: D, mtime: 99 }, home(ev({ type: 'setattr', id: D, mtime: 99 }))));
  t.test('an area root', (t) => when(t, { type: 'setattr', id: W, mode: 0o700 }, { area: 'work', events: [ev({ type: 'setattr', id: W, mode: 0o700 })] }));
  t.test('ENOENT: no such node', (t) => when(t, { type: 'setattr', id: nid(0xdead), mode: 0o600 }, err('NOT_FOUND')));
  t.test('ENOENT: a node with no name left', (t) => when(t, { type: 'setattr', id: GONE, mode: 0o600 }, err('NOT_FOUND')));
  t.test('INVALID: a negative time', (t) => when(t, { type: 'setattr', id: G, mtime: -1 }, err('INVALID')));
});

t.test('setxattr', async (t) => {
  const value = new Uint8Array([7, 8]);
  const set = (flag?: 'create' | 'replace', name = 'user.new', id = G): Command => ({ type: 'setxattr', id, name, value, ...(flag ? { flag } : {}) });
  t.test('a new attribute', (t) => when(t, set(), home(ev({ type: 'setxattr', id: G, name: 'user.new', value }))));
  t.test('replacing one, no flag', (t) => when(t, set(undefined, 'user.tag'), home(ev({ type: 'setxattr', id: G, name: 'user.tag', value }))));
  t.test('create: absent', (t) => when(t, set('create'), home(ev({ type: 'setxattr', id: G, name: 'user.new', value }))));
  t.test('EEXIST: create, present', (t) => when(t, set('create', 'user.tag'), err('EXISTS')));
  t.test('replace: present', (t) => when(t, set('replace', 'user.tag'), home(ev({ type: 'setxattr', id: G, name: 'user.tag', value }))));
  t.test('ENODATA: replace, absent', (t) => when(t, set('replace'), err('NO_ATTRIBUTE')));
  t.test('on a directory', (t) => when(t, set(undefined, 'user.d', D), home(ev({ type: 'setxattr', id: D, name: 'user.d', value }))));
  t.test('ENOENT: no such node', (t) => when(t, set(undefined, 'user.x', nid(0xdead)), err('NOT_FOUND')));
  t.test('INVALID: an empty name', (t) => when(t, set(undefined, ''), err('INVALID')));
  t.test('INVALID: a value over 64 KiB', (t) => when(t, { type: 'setxattr', id: G, name: 'user.big', value: new Uint8Array(XATTR_VALUE_MAX + 1) }, err('INVALID')));
});

t.test('removexattr', async (t) => {
  t.test('present', (t) => when(t, { type: 'removexattr', id: G, name: 'user.tag' }, home(ev({ type: 'removexattr', id: G, name: 'user.tag' }))));
  t.test('ENODATA: absent', (t) => when(t, { type: 'removexattr', id: G, name: 'user.none' }, err('NO_ATTRIBUTE')));
  t.test('ENOENT: no such node', (t) => when(t, { type: 'removexattr', id: nid(0xdead), name: 'user.tag' }, err('NOT_FOUND')));
});

t.test('write', async (t) => {
  const blocks = [[0, hashOf(1)], [2, hashOf(2)]] as const;
  t.test('blocks of a file, and its new size', (t) =>
    when(t, { type: 'write', id: F, size: 300_000, blocks }, home(ev({ type: 'write', id: F, size: 300_000, blocks }))));
  t.test('no blocks: nothing to do', (t) => when(t, { type: 'write', id: F, size: 0, blocks: [] }, 'nothing'));
  t.test('a file open after its last name went (nlink 0) can still be written', (t) =>
    when(t, { type: 'write', id: GONE, size: 10, blocks: [[0, hashOf(3)]] }, home(ev({ type: 'write', id: GONE, size: 10, blocks: [[0, hashOf(3)]] }))));
  t.test('EISDIR', (t) => when(t, { type: 'write', id: D, size: 1, blocks: [[0, hashOf(1)]] }, err('IS_A_DIRECTORY')));
  t.test('INVALID: a symlink has no content', (t) => when(t, { type: 'write', id: L, size: 1, blocks: [[0, hashOf(1)]] }, err('INVALID')));
  t.test('ENOENT', (t) => when(t, { type: 'write', id: nid(0xdead), size: 1, blocks: [[0, hashOf(1)]] }, err('NOT_FOUND')));
  t.test('INVALID: block indexes out of order', (t) => when(t, { type: 'write', id: F, size: 300_000, blocks: [[2, hashOf(1)], [0, hashOf(2)]] }, err('INVALID')));
  t.test('INVALID: a hash that is not 32 bytes', (t) => when(t, { type: 'write', id: F, size: 10, blocks: [[0, new Uint8Array(31)]] }, err('INVALID')));
});

t.test('truncate', async (t) => {
  t.test('down, with the new tail block', (t) => when(t, { type: 'truncate', id: F, size: 5, tail: hashOf(4) }, home(ev({ type: 'truncate', id: F, size: 5, tail: hashOf(4) }))));
  t.test('up, no tail', (t) => when(t, { type: 'truncate', id: G, size: 1 << 20, tail: null }, home(ev({ type: 'truncate', id: G, size: 1 << 20, tail: null }))));
  t.test('an unlinked open file', (t) => when(t, { type: 'truncate', id: GONE, size: 0, tail: null }, home(ev({ type: 'truncate', id: GONE, size: 0, tail: null }))));
  t.test('EISDIR', (t) => when(t, { type: 'truncate', id: E, size: 0, tail: null }, err('IS_A_DIRECTORY')));
  t.test('INVALID: a symlink', (t) => when(t, { type: 'truncate', id: L, size: 0, tail: null }, err('INVALID')));
  t.test('ENOENT', (t) => when(t, { type: 'truncate', id: nid(0xdead), size: 0, tail: null }, err('NOT_FOUND')));
  t.test('INVALID: a negative size', (t) => when(t, { type: 'truncate', id: F, size: -1, tail: null }, err('INVALID')));
});

t.test('commit', async (t) => {
  t.test('a file', (t) => when(t, { type: 'commit', id: F }, home(ev({ type: 'commit', id: F }))));
  t.test('an unlinked open file, on its last close', (t) => when(t, { type: 'commit', id: GONE }, home(ev({ type: 'commit', id: GONE }))));
  t.test('EISDIR', (t) => when(t, { type: 'commit', id: D }, err('IS_A_DIRECTORY')));
  t.test('ENOENT', (t) => when(t, { type: 'commit', id: nid(0xdead) }, err('NOT_FOUND')));
});

t.test('the decider is pure: the same input gives the same output, and the view is not changed', async (t) => {
  const g = await given(t, WORLD);
  const before = g.set.digests();
  const cmd: Command = { type: 'create', path: '/home/d/new', mode: 0o644, owner: OWNER };
  t.same(decide(g.view, cmd, ctx(NOW)), decide(g.view, cmd, ctx(NOW)));
  t.same(g.set.digests(), before, 'projections untouched');
});

t.test('when the events are applied, the tree is as the command said', async (t) => {
  const g = await given(t, WORLD);
  const steps: Command[] = [
    { type: 'rename', from: '/home/g', to: '/home/d/f' },
    { type: 'rename', from: '/home/d', to: '/home/empty' },
    { type: 'mkdir', path: '/home/empty/new', mode: 0o755, owner: OWNER },
  ];
  const c = ctx(NOW);
  for (const cmd of steps) g.apply(decide(g.view, cmd, c).events);
  const d = g.view.areaRoot('home')!;
  t.equal(g.view.child(d, 'd'), undefined, 'd moved');
  t.equal(g.view.child(d, 'empty'), D, 'd replaced the empty directory');
  t.equal(g.view.node(E)?.nlink, 0, 'the replaced directory is gone');
  t.equal(g.view.child(D, 'f'), G, 'g replaced f');
  t.equal(g.view.node(F)?.nlink, 1, 'f kept its other link');
  t.equal(g.view.node(D)?.nlink, 4, 'd: 2 + sub + new');
  t.equal(g.view.node(R)?.nlink, 3, 'home: 2 + d (empty was replaced)');
});
