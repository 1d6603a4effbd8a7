/**
 * The control socket: writing commands given while another process holds the store (a mount,
 * `realize serve`) run in that process. The server answers each request with the operation's
 * result or its error (same type and code); the CLI forwards mark, restore, area create and
 * peer add/remove when the store is locked, and says so clearly when the holder takes no
 * commands.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { callControl, CONTROL_VERSION, controlSocketPath, ControlError, ControlServer, decodeRequest, decodeResponse, encodeLine, rebuildError } from '../../engine/control/index.js';
import { EngineError, type Engine } from '../../engine/index.js';
import { SyncError } from '../../engine/sync/index.js';
import { content, openStore, OWNER } from '../engine/helpers/env.js';
import { rawLine } from '../helpers/raw-line.js';
import { realize, realizeChild } from '../helpers/run-cli.js';
import { serveChild } from '../sync/helpers/serve-child.js';


async function seeded(engine: Engine): Promise<void> {
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/home/docs', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/docs/a.txt', mode: 0o644, owner: OWNER });
  const id = engine.stat('/home/docs/a.txt').id;
  await engine.write(id, 0, content('v1', 5000));
  await engine.commit(id);
}

t.test('the server runs operations for other processes and answers errors with their type and code', async (t) => {
  const s = await openStore(t);
  await seeded(s.engine);
  await writeFile(controlSocketPath(s.root), 'left by a crash'); // replaced: whoever starts the server holds the lock
  const server = await ControlServer.start(s.engine);
  t.teardown(() => server.close());
  t.equal(server.path, join(s.root, 'control.sock'));
  t.equal((await stat(server.path)).mode & 0o777, 0o600, 'the socket is the owner\'s alone');

  const marked = await callControl(s.root, 'mark', { placement: 'unreal', paths: ['/home/docs'] });
  t.same(marked, [{ path: '/home/docs', id: s.engine.stat('/home/docs').id, placement: 'unreal', changed: true }]);
  t.equal(s.engine.projections.placements.mark(s.engine.store.publicKey, s.engine.stat('/home/docs').id), 'unreal', 'the mark is applied in the serving engine');

  const missing = await callControl(s.root, 'mark', { placement: 'real', paths: ['/home/nope'] }).catch((e: unknown) => e);
  t.ok(missing instanceof EngineError, 'an engine error comes back as one');
  t.equal((missing as EngineError).code, 'NOT_FOUND');
  t.match((missing as Error).message, /no such file or directory: \/home\/nope/);

  const badKey = await callControl(s.root, 'peer-add', { name: 'bob', key: '12', address: null }).catch((e: unknown) => e);
  t.ok(badKey instanceof SyncError && badKey.code === 'BAD_ARGUMENT', 'a sync error comes back as one');

  const badArgs = await callControl(s.root, 'mark', { placement: 'real', paths: 'not a list' }).catch((e: unknown) => e);
  t.ok(badArgs instanceof EngineError && badArgs.code === 'BAD_ARGUMENT', 'arguments are checked');
  t.match((badArgs as Error).message, /paths must be a list of strings/);

  const unknown = await callControl(s.root, 'format-disk' as never, {}).catch((e: unknown) => e);
  t.ok(unknown instanceof ControlError && unknown.code === 'UNKNOWN_OP');

  t.same(JSON.parse(await rawLine(server.path, 'not json\n')), { id: 0, ok: false, error: { type: 'ControlError', code: 'PROTOCOL', message: 'a request that is not JSON' } });
  t.match(JSON.parse(await rawLine(server.path, '{"realize":"control","v":9,"id":3,"op":"mark"}\n')), { ok: false, error: { code: 'PROTOCOL', message: /version 9 is not 1/ } });

  await server.close();
  await t.rejects(stat(server.path), 'closing removes the socket');
  const gone = await callControl(s.root, 'mark', { placement: 'real', paths: ['/home'] }).catch((e: unknown) => e);
  t.ok(gone instanceof ControlError && gone.code === 'NO_DAEMON', 'nothing listening: NO_DAEMON');
});

t.test('a store path too long for a socket address gets a socket in the temporary directory', async (t) => {
  const long = `/tmp/${'x'.repeat(120)}/store`;
  const p = controlSocketPath(long);
  t.ok(Buffer.byteLength(p) <= 107, p);
  t.equal(controlSocketPath(long), p, 'the same store always gets the same socket');
  t.not(controlSocketPath(`${long}2`), p);
});

t.test('the CLI forwards writing commands to the process holding the store', async (t) => {
  const s = await openStore(t);
  await seeded(s.engine);
  const before = s.engine.projections.head;
  const id = s.engine.stat('/home/docs/a.txt').id;
  await s.engine.write(id, 0, content('v2', 5000));
  await s.engine.commit(id);
  await s.close();
  const serve = await serveChild(t, s.root);

  const mark = await realize('--store', s.root, '--json', 'mark', 'unreal', '/home/docs');
  t.equal(mark.code, 0, mark.stderr);
  t.match(JSON.parse(mark.stdout), { path: '/home/docs', placement: 'unreal', changed: true });

  const area = await realize('--store', s.root, 'area', 'create', 'photos');
  t.equal(area.code, 0, area.stderr);
  t.match(area.stdout, /created area photos/);

  const key = 'ab'.repeat(32);
  const add = await realize('--store', s.root, 'peer', 'add', 'bob', key);
  t.equal(add.code, 0, add.stderr);
  const restore = await realize('--store', s.root, '--json', 'restore', '/home/docs/a.txt', '--at', `@${before}`);
  t.equal(restore.code, 0, restore.stderr);
  t.match(JSON.parse(restore.stdout), { path: '/home/docs/a.txt', position: before, files: 1 });

  // Errors come back as the command's own: a bad path is a usage error, a missing one a store error.
  t.equal((await realize('--store', s.root, 'mark', 'real', '/home/../x')).code, 2);
  const nope = await realize('--store', s.root, 'mark', 'real', '/home/nope');
  t.equal(nope.code, 3);
  t.match(nope.stderr, /^realize: no such file or directory: \/home\/nope\n$/);

  const gc = await realize('--store', s.root, '--json', 'gc', '--keep-versions', '1');
  t.equal(gc.code, 0, gc.stderr);
  t.match(JSON.parse(gc.stdout), { freedBlocks: Number, liveBlocks: Number }, 'gc runs in the holder');
  t.ok((JSON.parse(gc.stdout) as { freedBlocks: number }).freedBlocks > 0, 'and frees the blocks of the version the restore replaced');

  const remove = await realize('--store', s.root, 'peer', 'remove', 'bob');
  t.equal(remove.code, 0, remove.stderr);

  const ls = await realize('--store', s.root, 'ls', '/');
  t.match(ls.stdout, /photos/, 'read-only commands see what the holder applied');
  await serve.stop();
  const e = await s.reopen();
  t.equal(e.projections.placements.mark(e.store.publicKey, e.stat('/home/docs').id), 'unreal', 'the mark is in the log');
  t.equal(e.stat('/photos').kind, 'dir');
});

t.test('a reader opening the store beside its holder sees the rows the holder keeps in memory (it asks for them first)', async (t) => {
  const s = await openStore(t);
  await seeded(s.engine);
  s.engine.projections.settle();
  s.engine.projections.holdMs = 3_600_000; // from here the holder writes its held rows only when asked
  const id = s.engine.stat('/home/docs/a.txt').id;
  await s.engine.run({ type: 'setattr', id, mode: 0o600 });
  t.equal(s.engine.projections.held.entries, 1, 'the chmod is held, not yet in LMDB');
  const mode = async (): Promise<number> => {
    // Readers in other processes (in this one, lmdb-js shares the environment and sees the rows).
    const r = await realizeChild(t, '--store', s.root, '--json', 'stat', '/home/docs/a.txt');
    t.equal(r.code, 0, r.stderr);
    return parseInt((JSON.parse(r.stdout) as { mode: string }).mode, 8) & 0o777;
  };
  t.equal(await mode(), 0o644, 'with nothing answering on the socket, a reader does not see the held rows');
  const server = await ControlServer.start(s.engine);
  t.teardown(() => server.close());
  t.equal(await mode(), 0o600, 'with the holder answering, the reader sees them');
  t.equal(s.engine.projections.held.entries, 0, 'the holder wrote what it held');
  t.equal(s.engine.projections.held.settles.get('control'), 1);
  t.same(await callControl(s.root, 'settle', null), { settled: true });
});

t.test('a holder that takes no commands: a clear STORE_LOCKED error, exit 3', async (t) => {
  const s = await openStore(t);
  await seeded(s.engine);
  await s.close();
  // A live process that holds the lock and listens on no control socket (as an older realize would).
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => void sleeper.kill('SIGKILL'));
  await writeFile(join(s.root, 'lock'), `${sleeper.pid}\n`);
  const r = await realize('--store', s.root, 'mark', 'unreal', '/home/docs');
  t.equal(r.code, 3);
  t.match(r.stderr, new RegExp(`in use by process ${sleeper.pid} .*which takes no commands`));
});

t.test('golden lines (spec/control-format.md): encoded byte for byte, decoded to the same values', async (t) => {
  const dir = new URL('../fixtures/control/', import.meta.url);
  const read = (name: string): Promise<Buffer> => readFile(new URL(name, dir));
  const request = { realize: 'control', v: CONTROL_VERSION, id: 7, op: 'mark', args: { placement: 'unreal', paths: ['/home/docs'] } } as const;
  t.same(encodeLine(request), await read('mark-request.jsonl'));
  t.same(decodeRequest((await read('mark-request.jsonl')).toString('utf8').trimEnd()), request);
  const answer = { id: 7, ok: true, result: [{ path: '/home/docs', id: '0123456789abcdef0123456789abcdef', placement: 'unreal', changed: true }] } as const;
  t.same(encodeLine(answer), await read('mark-answer.jsonl'));
  t.same(decodeResponse((await read('mark-answer.jsonl')).toString('utf8').trimEnd()), answer);
  const failed = decodeResponse((await read('error-answer.jsonl')).toString('utf8').trimEnd());
  t.same(failed, { id: 8, ok: false, error: { type: 'EngineError', code: 'NOT_FOUND', message: 'no such file or directory: /home/nope' } });
  const err = rebuildError((failed as { error: { type: string; code: string; message: string } }).error);
  t.ok(err instanceof EngineError && err.code === 'NOT_FOUND', 'rebuilt as the engine error it was');
  t.same(encodeLine(failed), await read('error-answer.jsonl'));

  const withProgress = { realize: 'control', v: CONTROL_VERSION, id: 9, op: 'import', args: { src: '/srv/photos', dest: '/home/photos' }, progress: true } as const;
  t.same(encodeLine(withProgress), await read('import-request.jsonl'));
  t.same(decodeRequest((await read('import-request.jsonl')).toString('utf8').trimEnd()), withProgress);
  const progress = { id: 9, progress: { files: 120, dirs: 4, bytes: 52428800 } };
  t.same(encodeLine(progress), await read('import-progress.jsonl'));
  t.same(decodeResponse((await read('import-progress.jsonl')).toString('utf8').trimEnd()), progress, 'a progress line decodes as one, not as an answer');
});
