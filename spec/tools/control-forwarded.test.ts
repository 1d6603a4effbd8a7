/**
 * The longer writing commands given while another process holds the store: `import`,
 * `cache --size`, `famfs add|cp` and `sync` run in the holder (engine/control/ops.ts), with
 * progress lines for the caller that asks, and refusals that say why when the holder cannot
 * run them (an import out of its own mount, famfs on a mount that serves none).
 */
import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { callControl, ControlServer } from '../../engine/control/index.js';
import { Engine, EngineError } from '../../engine/index.js';
import { formatAddress, SyncNode } from '../../engine/sync/index.js';
import { openStore, OWNER, tempDir, testEnv, type HasTeardown } from '../engine/helpers/env.js';
import { rawLine } from '../helpers/raw-line.js';
import { realize } from '../helpers/run-cli.js';
import { serveChild } from '../sync/helpers/serve-child.js';

/** Text, so that `realize cat` output compares as a string. */
function text(i: number): string {
  return `line of file ${i}\n`.repeat(20 + i);
}

async function sourceTree(t: HasTeardown, files: number): Promise<string> {
  const src = join(await tempDir(t), 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  for (let i = 0; i < files; i++) await writeFile(join(src, i % 2 ? 'sub' : '', `f${i}.txt`), text(i));
  return src;
}

t.test('in the holder: progress lines for a caller that asks, and refusals that say why', async (t) => {
  const s = await openStore(t);
  await s.engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  const served = await tempDir(t);
  const server = await ControlServer.start(s.engine, { context: { famfs: null, serving: [served] } });
  t.teardown(() => server.close());

  const src = await sourceTree(t, 6);
  const seen: unknown[] = [];
  const r = await callControl(s.root, 'import', { src, dest: '/home/in' }, { onProgress: (p) => seen.push(p) });
  t.match(r, { dest: '/home/in', files: 6, dirs: 2 });
  t.ok(seen.length >= 1, 'at least one progress line came before the answer');
  t.match(seen[0], { files: Number, dirs: Number, bytes: Number });
  t.equal(s.engine.stat('/home/in/sub/f1.txt').size, Buffer.byteLength(text(1)), 'the holder imported it');

  const first = JSON.parse(await rawLine(server.path, `${JSON.stringify({ realize: 'control', v: 1, id: 5, op: 'import', args: { src, dest: '/home/again' } })}\n`)) as Record<string, unknown>;
  t.match(first, { id: 5, ok: true, result: { files: 6 } }, 'without progress: true the first line is the answer');

  const own = await callControl(s.root, 'import', { src: join(served, 'x'), dest: '/home/x' }).catch((e: unknown) => e);
  t.ok(own instanceof EngineError && own.code === 'INVALID', 'importing out of the holder\'s own mount is refused');
  t.match((own as Error).message, /which this process serves/);

  const rel = await callControl(s.root, 'import', { src: 'relative/dir', dest: '/home/x' }).catch((e: unknown) => e);
  t.ok(rel instanceof EngineError && rel.code === 'BAD_ARGUMENT', 'a relative source is the caller\'s to resolve');

  const fam = await callControl(s.root, 'famfs-add', { area: 'home', device: '/dev/null' }).catch((e: unknown) => e);
  t.ok(fam instanceof EngineError && fam.code === 'STORE_LOCKED', 'a mount that serves no famfs area refuses famfs');
  t.match((fam as Error).message, /unmount, add the device, and mount again/);
});

t.test('the CLI forwards import, cache, famfs add|cp and sync to `realize serve`', async (t) => {
  const s = await openStore(t);
  await s.engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await s.engine.run({ type: 'mkdir', path: '/fam', mode: 0o755, owner: OWNER });
  const ka = s.engine.store.publicKey;
  await s.close();

  // b: another peer that knows a, listening in this process.
  const b = join(await tempDir(t), 'b');
  t.equal((await realize('--store', b, 'init')).code, 0);
  const kb = (await realize('--store', b, 'id')).stdout.trim();
  t.equal((await realize('--store', b, 'peer', 'add', 'alice', ka)).code, 0);
  const eb = await Engine.open(b, testEnv(2));
  const node = await SyncNode.start(eb, { listen: { host: '127.0.0.1', port: 0 } });
  t.teardown(async () => {
    await node.close();
    await eb.close();
  });

  const serve = await serveChild(t, s.root);
  const src = await sourceTree(t, 4);
  const imp = await realize('--store', s.root, '--json', 'import', src, '/home/in');
  t.equal(imp.code, 0, imp.stderr);
  t.match(JSON.parse(imp.stdout), { dest: '/home/in', files: 4, dirs: 2, seconds: Number });
  const cat = await realize('--store', s.root, 'cat', '/home/in/sub/f3.txt');
  t.equal(cat.stdout, text(3), 'a reader beside the holder sees the imported bytes');

  const cache = await realize('--store', s.root, '--json', 'cache', '--size', '1M');
  t.equal(cache.code, 0, cache.stderr);
  t.match(JSON.parse(cache.stdout), { sizeBytes: 1024 * 1024, fetchTimeoutMs: Number });

  const dev = join(await tempDir(t), 'dev');
  t.equal((await realize('--store', s.root, 'famfs', 'mkfs', dev, '--size', '16m')).code, 0);
  const add = await realize('--store', s.root, '--json', 'famfs', 'add', 'fam', dev);
  t.equal(add.code, 0, add.stderr);
  t.match(JSON.parse(add.stdout), { area: 'fam', added: true, size: 16 * 1024 * 1024 });
  const big = join(await tempDir(t), 'big');
  await writeFile(big, Buffer.alloc(3 * 1024 * 1024, 9));
  const cp = await realize('--store', s.root, '--json', 'famfs', 'cp', big, '/fam/copy');
  t.equal(cp.code, 0, cp.stderr);
  t.match(JSON.parse(cp.stdout), { dest: '/fam/copy', bytes: 3 * 1024 * 1024 });

  const none = await realize('--store', s.root, 'sync');
  t.equal(none.code, 2, 'no member to dial: a usage error, from the holder');
  t.match(none.stderr, /no member of the household has an address/);
  t.equal((await realize('--store', s.root, 'peer', 'add', 'bob', kb, '--address', formatAddress(node.address!))).code, 0);
  const sync = await realize('--store', s.root, '--json', 'sync', 'bob');
  t.equal(sync.code, 0, sync.stderr);
  t.match(JSON.parse(sync.stdout), { peer: 'bob', key: kb, entriesOut: Number });
  const watch = await realize('--store', s.root, 'sync', '--watch');
  t.equal(watch.code, 3);
  t.match(watch.stderr, /already keeps every peer with an address in sync/);

  await serve.stop();
  const e = await s.reopen();
  t.equal(e.stat('/home/in/f0.txt').size, Buffer.byteLength(text(0)), 'the import is in the log');
  t.equal(e.stat('/fam/copy').size, 3 * 1024 * 1024);
});
