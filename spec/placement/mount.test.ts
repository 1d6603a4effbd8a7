/**
 * Through a real FUSE mount of B, served by `realize mount` in a child process (it syncs
 * with A, which runs in this process on 127.0.0.1): an Unreal file reads right, a 4 KiB read
 * fetches a block or two of a large file, getfattr shows the placement, setfattr marks the
 * file Real and the download completes (seen by `realize status PATH`, read-only, beside the
 * mount). Every call on the mount is asynchronous and bounded; teardown always unmounts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { Engine } from '../../engine/index.js';
import { until } from '../sync/helpers/peers.js';
import { bigFile, presence, unrealPair } from './helpers/pair.js';
import { MountServer, REALIZE } from '../mount/helpers/server.js';
import { run } from '../mount/helpers/proc.js';
import { readRange, xattr } from '../mount/helpers/mount-io.js';

const haveFuse = (await run('sh', ['-c', 'test -c /dev/fuse && command -v fusermount'])).code === 0;

t.test('an Unreal file through a FUSE mount of B in a child process', { skip: haveFuse ? false : 'no FUSE here' }, async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const blocks = 100;
  const data = await bigFile(pair, '/home/big.bin', blocks);
  // B's store goes to the child: close it here.
  await b.stop();
  await b.engine.close();
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-placement-mnt-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const mp = join(dir, 'mnt');
  const m = await MountServer.start(b.root, mp);
  t.teardown(() => m.stop());
  await until(() => a.node!.sessions.has(b.key), 15_000, 'the mount connected to a');
  const session = (): { blocksOut: number } => a.node!.sessions.get(b.key)!.stats;

  const first = await readRange(mp, 'home/big.bin', 0, 4096);
  t.ok(first.equals(data.subarray(0, 4096)), 'the first 4 KiB read right through the mount');
  t.ok(session().blocksOut >= 1 && session().blocksOut <= 4, `a 4 KiB read fetched ${session().blocksOut} block(s) of ${blocks + 1}`);

  const got = await xattr(mp, 'get', 'home/big.bin', 'user.realize.placement');
  t.same(got, { ok: true, value: 'unreal' }, 'getfattr: unreal');
  const bad = await xattr(mp, 'set', 'home/big.bin', 'user.realize.placement', 'maybe');
  t.same(bad, { ok: false, value: 'ERR EINVAL' }, 'setfattr of a placement that is not one: EINVAL');

  const whole = await readRange(mp, 'home/big.bin', 0, data.byteLength, 30_000);
  t.ok(whole.equals(data), 'the whole file streams right through the mount');

  // A second file, marked Real with setfattr: it comes whole without being read.
  const other = await (async () => {
    const { writeFile } = await import('../sync/helpers/peers.js');
    const { content } = await import('../engine/helpers/env.js');
    const d = content('other', 12 * BLOCK_SIZE);
    await writeFile(a, '/home/other.bin', d);
    return d;
  })();
  await until(async () => (await xattr(mp, 'get', 'home/other.bin', 'user.realize.placement')).ok, 15_000, 'other.bin on the mount');
  t.same(await xattr(mp, 'set', 'home/other.bin', 'user.realize.placement', 'real'), { ok: true, value: '' }, 'setfattr: real');
  t.same(await xattr(mp, 'get', 'home/other.bin', 'user.realize.placement'), { ok: true, value: 'real' }, 'getfattr: real');
  let status: Record<string, unknown> = {};
  await until(
    async () => {
      const r = await run(process.execPath, [REALIZE, '--store', b.root, '--json', 'status', '/home/other.bin']);
      if (r.code !== 0) return false;
      status = JSON.parse(r.stdout.trim().split('\n')[0]!) as Record<string, unknown>;
      return (status['presence'] as { presence: string }).presence === 'all';
    },
    20_000,
    'realize status: other.bin all here',
  );
  t.equal(status['placement'], 'real', 'realize status PATH: real');
  t.equal(status['explicit'], true, 'marked there');
  t.ok((await readRange(mp, 'home/other.bin', 0, other.byteLength)).equals(other), 'and it reads right');

  await m.stop();
  t.same(await m.exited, { code: 0, signal: null }, 'the mount exited cleanly');
  b.engine = await Engine.open(b.root, b.env);
  t.equal(presence(b, '/home/other.bin').presence, 'all', 'the Real file is complete in the store');
  t.equal(b.engine.projections.placements.mark(b.key, b.engine.stat('/home/other.bin').id), 'real', "the mark is in b's log");
});
