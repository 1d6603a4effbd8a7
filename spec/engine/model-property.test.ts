/**
 * The engine against a model: random sequences of filesystem operations are applied both to
 * a real store (initStore + Engine.open in a temp dir, injected clock and randomness) and to
 * the in-memory reference filesystem of helpers/ref-fs.ts. Every operation must succeed or
 * fail the same way (the engine's EngineError code is the one the model names); after each
 * run the trees must be identical (names, kinds, modes, owners, link counts, sizes, bytes,
 * symlink targets, xattrs, hard links sharing one node). Then the store is closed and opened
 * again (same digests), and replayed from the log in a scratch environment (same digests).
 *
 * fast-check prints the seed and the shrunk counterexample on failure; the seed is fixed so
 * runs are reproducible (REALIZE_PROPERTY_SEED overrides it, REALIZE_PROPERTY_RUNS the count).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { Engine, EngineError, initStore, replayCheck, type EngineErrorCode, type NodeInfo } from '../../engine/index.js';
import { content, fakeNow, seededBytes, tempDir } from './helpers/env.js';
import { RefError, RefFs, splitRef } from './helpers/ref-fs.js';

const SEED = Number(process.env['REALIZE_PROPERTY_SEED'] ?? 20_250_601);
const RUNS = Number(process.env['REALIZE_PROPERTY_RUNS'] ?? 40);
const OWNER = { uid: 1000, gid: 100 };

type Op =
  | { op: 'create'; path: string; mode: number }
  | { op: 'mkdir'; path: string; mode: number }
  | { op: 'symlink'; path: string; target: string }
  | { op: 'link'; path: string; newPath: string }
  | { op: 'unlink'; path: string }
  | { op: 'rmdir'; path: string }
  | { op: 'rename'; from: string; to: string }
  | { op: 'write'; path: string; offset: number; length: number; seed: number }
  | { op: 'truncate'; path: string; size: number }
  | { op: 'commit'; path: string }
  | { op: 'setattr'; path: string; mode?: number; uid?: number; gid?: number }
  | { op: 'setxattr'; path: string; name: string; value: number[]; flag?: 'create' | 'replace' }
  | { op: 'removexattr'; path: string; name: string };

// ---------------------------------------------------------------- generators

/**
 * Where an operation points, chosen against the model's tree when the operation runs (so
 * most operations meet something): an existing node, an existing file, a new name in an
 * existing directory, or a path made up from a tiny namespace (mostly missing, sometimes
 * through a file, sometimes with ".." in it).
 */
type PathSpec = { e: number } | { n: number } | { x: number } | { f: number } | { nd: number } | { dir: number } | { d: number; name: string } | { raw: string };
/** A size or offset: absolute, a fraction of the file's current size, or past its end. */
type AtSpec = { abs: number } | { frac: number } | { past: number };
type Spec<O> = O extends unknown
  ? { [K in keyof O]: K extends 'path' | 'newPath' | 'from' | 'to' ? PathSpec : K extends 'offset' | 'size' ? AtSpec : O[K] }
  : never;
type OpSpec = Spec<Op>;

const NAMES = ['a', 'b', 'c', 'd', 'e'];
const rawPath = fc
  .tuple(
    fc.oneof({ weight: 9, arbitrary: fc.constant('t') }, { weight: 1, arbitrary: fc.constant('u') }),
    fc.array(fc.oneof({ weight: 20, arbitrary: fc.constantFrom(...NAMES) }, { weight: 1, arbitrary: fc.constant('..') }), { minLength: 0, maxLength: 3 }),
  )
  .map(([area, parts]) => `/${[area, ...parts].join('/')}`);
/** Paths weighted by kind: e any node (areas too), n any node in an area, x a node with xattrs, f a file, nd not a directory, dir a directory, d a new name in a directory. */
const paths = (w: Partial<Record<'e' | 'n' | 'x' | 'f' | 'nd' | 'dir' | 'd' | 'raw', number>>): fc.Arbitrary<PathSpec> =>
  fc.oneof(
    ...(Object.entries(w) as Array<[string, number]>).map(([k, weight]) => ({
      weight,
      arbitrary: (k === 'raw'
        ? fc.record({ raw: rawPath })
        : k === 'd'
          ? fc.record({ d: fc.nat(), name: fc.constantFrom(...NAMES) })
          : fc.nat().map((x) => ({ [k]: x }))) as fc.Arbitrary<PathSpec>,
    })),
  );
const newPath = paths({ d: 8, e: 1, raw: 1 });
const nodePath = paths({ n: 8, e: 1, raw: 1 });
const filePath = paths({ f: 12, n: 1, raw: 1 });

const mode = fc.integer({ min: 0, max: 0o7777 });
/** Offsets and sizes: mostly small, some right around a block boundary, a few past one. */
const near = (k: number): fc.Arbitrary<number> => fc.integer({ min: k * BLOCK_SIZE - 300, max: k * BLOCK_SIZE + 300 });
const abs = (a: fc.Arbitrary<number>): fc.Arbitrary<AtSpec> => a.map((n) => ({ abs: n }));
const frac = fc.integer({ min: 1, max: 999 }).map((f) => ({ frac: f / 1000 }));
const past = fc.integer({ min: 1, max: 3000 }).map((n) => ({ past: n }));
/** Writes land inside the file, at or past its end (leaving a gap), or anywhere. */
const offset = fc.oneof(
  { weight: 4, arbitrary: frac },
  { weight: 3, arbitrary: past },
  { weight: 3, arbitrary: abs(fc.integer({ min: 0, max: 6000 })) },
  { weight: 2, arbitrary: abs(near(1)) },
  { weight: 1, arbitrary: abs(near(2)) },
);
const length = fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 1, max: 3000 }) }, { weight: 1, arbitrary: fc.integer({ min: BLOCK_SIZE - 500, max: BLOCK_SIZE + 3000 }) });
/** Truncates cut (mostly inside a block), grow, or jump to a size near a boundary. */
const size = fc.oneof(
  { weight: 5, arbitrary: frac },
  { weight: 4, arbitrary: past },
  { weight: 2, arbitrary: abs(fc.integer({ min: 0, max: 6000 })) },
  { weight: 2, arbitrary: abs(near(1)) },
  { weight: 1, arbitrary: abs(fc.integer({ min: 0, max: 2 * BLOCK_SIZE + 500 })) },
);

const op: fc.Arbitrary<OpSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('create' as const), path: newPath, mode }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('mkdir' as const), path: newPath, mode }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('symlink' as const), path: newPath, target: fc.constantFrom('a', '../b', 'c/d/e', '/abs') }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('link' as const), path: paths({ nd: 6, e: 1, raw: 1 }), newPath }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('unlink' as const), path: paths({ nd: 6, e: 2, d: 1, raw: 1 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('rmdir' as const), path: paths({ dir: 6, e: 2, d: 1, raw: 1 }) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('rename' as const), from: paths({ n: 8, e: 1, raw: 1 }), to: paths({ d: 6, n: 3, raw: 1 }) }) },
  { weight: 8, arbitrary: fc.record({ op: fc.constant('write' as const), path: filePath, offset, length, seed: fc.nat(1_000_000) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('truncate' as const), path: filePath, size }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('commit' as const), path: filePath }) },
  {
    weight: 2,
    arbitrary: fc.record(
      { op: fc.constant('setattr' as const), path: nodePath, mode, uid: fc.constantFrom(0, 1000, 2000), gid: fc.constantFrom(0, 100, 200) },
      { requiredKeys: ['op', 'path'] },
    ),
  },
  {
    weight: 3,
    arbitrary: fc.record(
      {
        op: fc.constant('setxattr' as const),
        path: paths({ n: 4, x: 4, e: 1, raw: 1 }),
        name: fc.constantFrom('user.a', 'user.b'),
        value: fc.array(fc.nat(255), { maxLength: 8 }),
        flag: fc.constantFrom('create' as const, 'replace' as const),
      },
      { requiredKeys: ['op', 'path', 'name', 'value'] },
    ),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('removexattr' as const), path: paths({ x: 6, n: 1, raw: 1 }), name: fc.constantFrom('user.a', 'user.b') }) },
);

/** Every run starts from this small tree, so that operations soon meet something. */
const PRELUDE: Op[] = [
  { op: 'mkdir', path: '/t/a', mode: 0o755 },
  { op: 'mkdir', path: '/t/b', mode: 0o700 },
  { op: 'mkdir', path: '/t/a/c', mode: 0o755 },
  { op: 'mkdir', path: '/u/x', mode: 0o755 },
  { op: 'create', path: '/t/f', mode: 0o644 },
  { op: 'create', path: '/t/a/g', mode: 0o600 },
  { op: 'create', path: '/u/y', mode: 0o644 },
  { op: 'write', path: '/t/f', offset: 0, length: 3000, seed: 1 },
  { op: 'write', path: '/t/a/g', offset: BLOCK_SIZE - 1000, length: 2000, seed: 2 },
  { op: 'symlink', path: '/t/l', target: 'f' },
  { op: 'setxattr', path: '/t/a/g', name: 'user.a', value: [1, 2] },
];

type Listing = Array<{ path: string; kind: string; xattrs: boolean }>;

/** Every path in the model's tree, in a fixed order, with its kind. */
function listing(ref: RefFs): Listing {
  const out: Listing = [];
  const walk = (path: string, id: number): void => {
    const n = ref.node(id);
    out.push({ path, kind: n.kind, xattrs: n.xattrs.size > 0 });
    if (n.kind === 'dir') for (const name of [...n.children!.keys()].sort()) walk(`${path}/${name}`, n.children!.get(name)!);
  };
  for (const area of [...ref.areas.keys()].sort()) walk(`/${area}`, ref.areas.get(area)!);
  return out;
}

function pick(spec: PathSpec, all: Listing): string {
  if ('raw' in spec) return spec.raw;
  const from = (list: Listing, i: number): string => (list.length > 0 ? list[i % list.length]! : all[i % all.length]!).path;
  const inArea = all.filter((x) => x.path.split('/').length > 2);
  if ('e' in spec) return from(all, spec.e);
  if ('n' in spec) return from(inArea, spec.n);
  if ('x' in spec) return from(inArea.filter((x) => x.xattrs), spec.x);
  if ('f' in spec) return from(inArea.filter((x) => x.kind === 'file'), spec.f);
  if ('nd' in spec) return from(inArea.filter((x) => x.kind !== 'dir'), spec.nd);
  if ('dir' in spec) return from(inArea.filter((x) => x.kind === 'dir'), spec.dir);
  return `${from(all.filter((x) => x.kind === 'dir'), spec.d)}/${spec.name}`;
}

/** The operation with its paths, offsets and sizes chosen against the model as it is now. */
function materialize(spec: OpSpec, ref: RefFs): Op {
  const all = listing(ref);
  const out: Record<string, unknown> = { ...spec };
  for (const k of ['path', 'newPath', 'from', 'to'] as const) if (k in spec) out[k] = pick((spec as Record<string, unknown>)[k] as PathSpec, all);
  for (const k of ['offset', 'size'] as const) {
    if (!(k in spec)) continue;
    const at = (spec as Record<string, unknown>)[k] as AtSpec;
    let current = 0;
    try {
      current = ref.size(ref.resolve(splitRef(out['path'] as string)));
    } catch {
      // a path that does not resolve: the operation fails anyway
    }
    out[k] = 'abs' in at ? at.abs : 'frac' in at ? Math.floor(current * at.frac) : current + at.past;
  }
  return out as Op;
}

// ---------------------------------------------------------------- applying

function dataOf(o: { seed: number; length: number }): Buffer {
  return content(`w${o.seed}`, o.length);
}

async function onEngine(engine: Engine, o: Op): Promise<void> {
  switch (o.op) {
    case 'create':
      await engine.run({ type: 'create', path: o.path, mode: o.mode, owner: OWNER });
      return;
    case 'mkdir':
      await engine.run({ type: 'mkdir', path: o.path, mode: o.mode, owner: OWNER });
      return;
    case 'symlink':
      await engine.run({ type: 'symlink', path: o.path, target: o.target, owner: OWNER });
      return;
    case 'link':
      await engine.run({ type: 'link', path: o.path, newPath: o.newPath });
      return;
    case 'unlink':
    case 'rmdir':
      await engine.run({ type: o.op, path: o.path });
      return;
    case 'rename':
      await engine.run({ type: 'rename', from: o.from, to: o.to });
      return;
    case 'write':
      await engine.write(engine.stat(o.path).id, o.offset, dataOf(o));
      return;
    case 'truncate':
      await engine.truncate(engine.stat(o.path).id, o.size);
      return;
    case 'commit':
      await engine.commit(engine.stat(o.path).id);
      return;
    case 'setattr': {
      const { op: _op, path: p, ...fields } = o;
      await engine.run({ type: 'setattr', id: engine.stat(p).id, ...fields });
      return;
    }
    case 'setxattr':
      await engine.run({ type: 'setxattr', id: engine.stat(o.path).id, name: o.name, value: Uint8Array.from(o.value), ...(o.flag ? { flag: o.flag } : {}) });
      return;
    case 'removexattr':
      await engine.run({ type: 'removexattr', id: engine.stat(o.path).id, name: o.name });
      return;
  }
}

function onModel(ref: RefFs, o: Op): void {
  switch (o.op) {
    case 'create':
      return ref.create(o.path, o.mode, OWNER.uid, OWNER.gid);
    case 'mkdir':
      return ref.mkdir(o.path, o.mode, OWNER.uid, OWNER.gid);
    case 'symlink':
      return ref.symlink(o.path, o.target, OWNER.uid, OWNER.gid);
    case 'link':
      return ref.link(o.path, o.newPath);
    case 'unlink':
      return ref.unlink(o.path);
    case 'rmdir':
      return ref.rmdir(o.path);
    case 'rename':
      return ref.rename(o.from, o.to);
    case 'write':
      return ref.write(o.path, o.offset, dataOf(o));
    case 'truncate':
      return ref.truncate(o.path, o.size);
    case 'commit':
      return ref.commit(o.path);
    case 'setattr':
      return ref.setattr(o.path, o);
    case 'setxattr':
      return ref.setxattr(o.path, o.name, Buffer.from(o.value), o.flag);
    case 'removexattr':
      return ref.removexattr(o.path, o.name);
  }
}

async function outcome(fn: () => unknown): Promise<EngineErrorCode | 'ok'> {
  try {
    await fn();
    return 'ok';
  } catch (err) {
    if (err instanceof EngineError || err instanceof RefError) return err.code;
    throw err;
  }
}

function describe(o: Op): string {
  const { op: kind, ...rest } = o;
  return `${kind} ${JSON.stringify(rest, (k, v: unknown) => (k === 'value' ? `[${String(v)}]` : v))}`;
}

// ---------------------------------------------------------------- comparing

async function compareTrees(engine: Engine, ref: RefFs): Promise<void> {
  const ids = new Map<number, string>();
  const problems: string[] = [];
  const walk = async (path: string, refId: number): Promise<void> => {
    const refDir = ref.node(refId);
    const entries = engine.readdir(path);
    const names = entries.map((e) => e.name).sort();
    const refNames = [...refDir.children!.keys()].sort();
    if (JSON.stringify(names) !== JSON.stringify(refNames)) {
      problems.push(`${path}: entries ${JSON.stringify(names)}, model has ${JSON.stringify(refNames)}`);
      return;
    }
    for (const { name: n, info } of entries) {
      const childPath = `${path === '/' ? '' : path}/${n}`;
      const id = refDir.children!.get(n)!;
      await compareNode(childPath, info, id);
      if (info.kind === 'dir') await walk(childPath, id);
    }
  };
  const compareNode = async (p: string, info: NodeInfo, id: number): Promise<void> => {
    const r = ref.node(id);
    const seen = ids.get(id);
    if (seen === undefined) ids.set(id, info.id);
    else if (seen !== info.id) problems.push(`${p}: a hard link of the model's node ${id} is engine node ${info.id}, not ${seen}`);
    const want = { kind: r.kind, mode: r.mode, uid: r.uid, gid: r.gid, nlink: ref.nlink(id), size: ref.size(id), target: r.target };
    const got = { kind: info.kind, mode: info.mode, uid: info.uid, gid: info.gid, nlink: info.nlink, size: info.size, target: info.target };
    if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`${p}: engine ${JSON.stringify(got)}, model ${JSON.stringify(want)}`);
    if (r.kind === 'file' && info.kind === 'file') {
      const bytes = await engine.read(info.id, 0, info.size + 10);
      if (!bytes.equals(r.data)) {
        let at = 0;
        while (at < bytes.length && bytes[at] === r.data[at]) at++;
        problems.push(`${p}: content differs (engine ${bytes.length} bytes, model ${r.data.length}; first difference at byte ${at})`);
      }
    }
    const xnames = engine.listxattr(info.id).sort();
    const refX = [...r.xattrs.keys()].sort();
    if (JSON.stringify(xnames) !== JSON.stringify(refX)) problems.push(`${p}: xattrs ${JSON.stringify(xnames)}, model ${JSON.stringify(refX)}`);
    else for (const x of xnames) if (!Buffer.from(engine.getxattr(info.id, x)).equals(r.xattrs.get(x)!)) problems.push(`${p}: xattr ${x} differs`);
  };
  const areas = engine.readdir('/');
  const refAreas = [...ref.areas.keys()].sort();
  if (JSON.stringify(areas.map((a) => a.name).sort()) !== JSON.stringify(refAreas)) problems.push(`areas ${JSON.stringify(areas.map((a) => a.name))}, model ${JSON.stringify(refAreas)}`);
  for (const { name: area, info } of areas) {
    const id = ref.areas.get(area);
    if (id === undefined) continue;
    await compareNode(`/${area}`, info, id);
    await walk(`/${area}`, id);
  }
  if (problems.length > 0) throw new Error(`the engine and the model differ:\n  ${problems.slice(0, 12).join('\n  ')}`);
}

// ---------------------------------------------------------------- the property

t.test('random operations: the engine behaves as the reference filesystem, and rebuilds to the same projections', async (t) => {
  const base = await tempDir(t, 'realize-spec-model-');
  const codes = new Map<string, number>();
  const successes = new Map<string, number>();
  let run = 0;
  const started = performance.now();

  const property = fc.asyncProperty(fc.array(op, { minLength: 8, maxLength: 40 }), async (specs) => {
    const n = run++;
    const root = await mkdtemp(join(base, `run-${n}-`));
    const env = { now: fakeNow(1_700_000_000_000 + n * 1_000_000), randomBytes: seededBytes(n + 1) };
    await initStore(root, env);
    let engine = await Engine.open(root, env);
    try {
      const ref = new RefFs();
      for (const area of ['/t', '/u']) {
        await engine.run({ type: 'mkdir', path: area, mode: 0o755, owner: OWNER });
        ref.mkdir(area, 0o755, OWNER.uid, OWNER.gid);
      }
      for (const o of PRELUDE) {
        onModel(ref, o);
        await onEngine(engine, o);
      }
      for (const [i, spec] of specs.entries()) {
        const o = materialize(spec, ref);
        const want = await outcome(() => onModel(ref, o));
        const got = await outcome(() => onEngine(engine, o));
        if (got !== want) throw new Error(`op ${i} (${describe(o)}): the engine says ${got}, the model ${want}`);
        if (got === 'ok') successes.set(o.op, (successes.get(o.op) ?? 0) + 1);
        else codes.set(got, (codes.get(got) ?? 0) + 1);
      }
      await compareTrees(engine, ref);

      const live = engine.projections.digests();
      await engine.close();
      engine = await Engine.open(root, env);
      const reopened = engine.projections.digests();
      if (JSON.stringify(reopened) !== JSON.stringify(live)) throw new Error(`digests changed across close and open:\n${JSON.stringify(live)}\n${JSON.stringify(reopened)}`);
      await compareTrees(engine, ref);

      const check = await replayCheck(engine, { scratch: join(root, 'replay-scratch') });
      if (!check.ok) throw new Error(`rebuilt projections differ from the live ones: ${JSON.stringify(check.projections.filter((p) => !p.same))}`);
      if (check.entries === 0) throw new Error('replay applied no entries');
    } finally {
      await engine.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  await fc.assert(property, { numRuns: RUNS, seed: SEED, endOnFailure: process.env['REALIZE_PROPERTY_SHRINK'] === undefined });
  const seconds = (performance.now() - started) / 1000;
  t.pass(`${run} runs (seed ${SEED}) in ${seconds.toFixed(1)} s; errors seen: ${JSON.stringify(Object.fromEntries(codes))}`);

  // The generator must reach every outcome that matters, or the property proves little.
  for (const code of ['NOT_FOUND', 'EXISTS', 'NOT_A_DIRECTORY', 'IS_A_DIRECTORY', 'NOT_EMPTY', 'INVALID', 'CROSS_AREA', 'NOT_PERMITTED', 'NO_ATTRIBUTE']) {
    t.ok((codes.get(code) ?? 0) > 0, `some operation failed with ${code} (${codes.get(code) ?? 0} times)`);
  }
  for (const kind of ['create', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'write', 'truncate', 'commit', 'setattr', 'setxattr', 'removexattr']) {
    t.ok((successes.get(kind) ?? 0) >= 3, `${kind} succeeded ${successes.get(kind) ?? 0} times`);
  }
});
