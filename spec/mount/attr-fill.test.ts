/**
 * What the mount hands the addon's attribute cache (mount/attr-fill.ts), against the engine
 * alone (no FUSE): a directory's entries go over on the second getattr in a row in it with
 * nothing changed between (the addon's generation), once; never a node left out by the
 * mount (data in the write cache), nor the root's areas, nor a directory past MAX_FILL; and
 * Engine.headChanged fires on every change the engine applies.
 */
import t from 'tap';
import type Fuse from 'fuse-native';
import type { Engine } from '../../engine/index.js';
import { packStat, STAT_DOUBLES, toStat } from '../../mount/attr.js';
import { AttrFill, MAX_FILL, type AttrSink } from '../../mount/attr-fill.js';
import { OWNER, openStore } from '../engine/helpers/env.js';
import { putFile } from '../shadow/helpers.js';

/** A packed stat read back as toStat's object (times: whole milliseconds, as the store keeps them). */
function unpack(a: Float64Array, at: number): Fuse.Stat {
  const ms = (i: number): number => a[at + i]! * 1000 + Math.round(a[at + i + 1]! / 1e6);
  return { mode: a[at]!, uid: a[at + 1]!, gid: a[at + 2]!, size: a[at + 3]!, nlink: a[at + 5]!, ino: a[at + 6]!, blksize: a[at + 8]!, blocks: a[at + 9]!, atime: ms(10), mtime: ms(12), ctime: ms(14) };
}

class FakeSink implements AttrSink {
  gen = 1;
  fills: Array<{ paths: string[]; stats: Fuse.Stat[] }> = [];
  fill(packed: string, stats: Float64Array): number {
    const paths = packed.split('\0');
    this.fills.push({ paths: paths.slice(0, -1), stats: paths.slice(0, -1).map((_, i) => unpack(stats, STAT_DOUBLES * i)) });
    t.equal(paths.at(-1), '', 'every path ends with a NUL');
    t.ok(stats.length >= STAT_DOUBLES * (paths.length - 1), 'with 16 doubles each');
    return paths.length - 1;
  }
  generation(): number {
    return this.gen;
  }
}

async function tree(engine: Engine, files: number): Promise<void> {
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  for (let i = 0; i < files; i++) await engine.run({ type: 'create', path: `/home/d/f${i}`, mode: 0o644, owner: OWNER });
}

t.test('the second getattr in a directory hands all its entries over, once per generation', async (t) => {
  const { engine } = await openStore(t);
  await tree(engine, 5);
  const sink = new FakeSink();
  const fill = new AttrFill(engine, sink, () => true);
  const dirId = (p: string): string => engine.head.idOf(p);
  fill.missed('/home/d/f0', dirId);
  t.equal(sink.fills.length, 0, 'one getattr alone hands nothing over');
  fill.missed('/home/d/f1', dirId);
  t.equal(sink.fills.length, 1, 'the second in the same directory does');
  const [first] = sink.fills;
  t.same(first!.paths, ['/home/d/f0', '/home/d/f1', '/home/d/f2', '/home/d/f3', '/home/d/f4'], 'every entry, by full path');
  t.same(first!.stats, first!.paths.map((p) => toStat(engine.head.stat(p))), 'with the attributes getattr answers');
  const one = new Float64Array(STAT_DOUBLES + 3);
  const info = { ...engine.head.stat('/home/d/f0'), atime: 1_700_000_000_123, mtime: 999, ctime: 0 };
  packStat(one, 3, info, 1025);
  t.same([...one.subarray(0, 3)], [0, 0, 0], 'packStat writes at its offset only');
  t.same([...one.subarray(3)], [0o100000 | info.mode, info.uid, info.gid, 1025, 0, info.nlink, info.ino, 0, 4096, 3, 1_700_000_000, 123_000_000, 0, 999_000_000, 0, 0], "in getStatArray's layout (seconds and nanoseconds)");
  fill.missed('/home/d/f2', dirId);
  t.equal(sink.fills.length, 1, 'not again in the same generation');
  sink.gen++;
  fill.missed('/home/d/f3', dirId);
  t.equal(sink.fills.length, 1, 'after a change, one getattr alone hands nothing over');
  fill.missed('/home/d/f4', dirId);
  t.equal(sink.fills.length, 2, 'two in a row with nothing changed between do');
  sink.gen++;
  fill.missed('/home/d/f0', dirId);
  sink.gen++;
  fill.missed('/home/d/f1', dirId);
  t.equal(sink.fills.length, 2, 'nor when a change falls between the two');
  sink.gen = -1;
  fill.missed('/home/d/f2', dirId);
  fill.missed('/home/d/f3', dirId);
  t.equal(sink.fills.length, 2, 'nothing outside a handler (generation -1)');
});

t.test('left out: what the mount leaves out, the areas, a directory too big', async (t) => {
  const { engine } = await openStore(t);
  await tree(engine, 3);
  const sink = new FakeSink();
  const skipped = engine.head.stat('/home/d/f1').id;
  const fill = new AttrFill(engine, sink, (id) => id !== skipped);
  const dirId = (p: string): string => engine.head.idOf(p);
  fill.missed('/home/d/f0', dirId);
  fill.missed('/home/d/f2', dirId);
  t.same(sink.fills[0]?.paths, ['/home/d/f0', '/home/d/f2'], 'a node the mount leaves out is not handed over');
  fill.missed('/home', dirId);
  fill.missed('/other', dirId);
  t.equal(sink.fills.length, 1, 'the areas (entries of the root) are not');
  for (let i = 3; i <= MAX_FILL; i++) await engine.run({ type: 'create', path: `/home/d/f${i}`, mode: 0o644, owner: OWNER });
  sink.gen++;
  fill.missed('/home/d/f0', dirId);
  fill.missed('/home/d/f2', dirId);
  t.equal(sink.fills.length, 1, `a directory of more than ${MAX_FILL} entries is not`);
  sink.gen++;
  fill.missed('/home/nothere/f0', () => {
    throw new Error('no such directory');
  });
  fill.missed('/home/nothere/f1', () => {
    throw new Error('no such directory');
  });
  t.equal(sink.fills.length, 1, 'nor a directory that cannot be resolved');
});

t.test('the engine calls headChanged for every change it applies', async (t) => {
  const { engine } = await openStore(t);
  let calls = 0;
  const listener = (): void => void calls++;
  engine.headChanged.add(listener);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  t.equal(calls, 1, 'a local entry');
  await engine.run({ type: 'create', path: '/home/f', mode: 0o644, owner: OWNER });
  await engine.run({ type: 'rename', from: '/home/f', to: '/home/g' });
  t.equal(calls, 3, 'one per entry');
  engine.headChanged.delete(listener);
  await engine.run({ type: 'unlink', path: '/home/g' });
  t.equal(calls, 3, 'not after the listener is removed');
});

t.test("a fill's stat fields, read from the rows' stored bytes, are what stat shows; rows held in memory are read whole", async (t) => {
  const { engine } = await openStore(t);
  engine.projections.holdMs = 60_000; // the rows stay held however long the log's fsyncs take
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o700, owner: OWNER });
  await engine.run({ type: 'symlink', path: '/home/d/l', target: 'ünïcødé/target', owner: OWNER });
  await putFile(engine, '/home/d/f', 'x'.repeat(300_000));
  await engine.run({ type: 'create', path: '/home/d/e', mode: 0o600, owner: OWNER });
  const f = engine.stat('/home/d/f').id;
  // Times far from the change time (stored whole, not as differences), and odd owners.
  await engine.run({ type: 'setattr', id: f, mode: 0o4751, uid: 2 ** 31, gid: 7, atime: 1, mtime: 2 ** 52 });
  const paths = ['/home/d', '/home/d/l', '/home/d/f', '/home/d/e'];
  const want = paths.map((p) => toStat(engine.head.stat(p)));
  const got = (): unknown[] => paths.map((p) => toStat(engine.head.statFields(engine.head.idOf(p))!));
  t.ok(engine.projections.held.size > 0, 'the rows of the last changes are held in memory');
  t.same(got(), want, 'held: the same fields (read whole)');
  engine.projections.settle();
  t.equal(engine.projections.held.size, 0, 'written to LMDB');
  t.equal(engine.projections.content.sizeOf(f), 300_000, 'sizes are read from the stored bytes now');
  t.same(engine.projections.tree.nodeStat(f)?.mtime, 2 ** 52, 'and so are records');
  t.same(got(), want, 'from the stored bytes: the same fields');
  t.equal(want[1]!.size, Buffer.byteLength('ünïcødé/target'), "a symlink's size is its target's UTF-8 length");
  t.equal(engine.head.statFields('0'.repeat(32)), undefined, 'a node that is not there: none');
});
