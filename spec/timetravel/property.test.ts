/**
 * Standing in the past equals replaying up to there. Random operation sequences run on a
 * real store (injected clock and randomness); after every entry the tree at the head is
 * deep-copied (names, kinds, modes, owners, times, link counts, sizes, inode numbers, content
 * versions, xattrs and every byte). Afterwards, for every position P, Engine.at(P) must show
 * exactly that copy; and for random positions P, a fresh ProjectionSet that applies only the
 * first P entries of the log must show it too (readdir, stat and read of every path).
 *
 * Seeded and bounded (REALIZE_PROPERTY_SEED / REALIZE_TT_RUNS override them).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { toHex, type Entry } from '../../log/index.js';
import { ProjectionSet } from '../../projections/index.js';
import { Engine, EngineError, initStore, Snapshot } from '../../engine/index.js';
import { headSource } from '../../engine/snapshot-source.js';
import { content, fakeNow, seededBytes } from '../engine/helpers/env.js';

const SEED = Number(process.env['REALIZE_PROPERTY_SEED'] ?? 20_261_122);
const RUNS = Number(process.env['REALIZE_TT_RUNS'] ?? 25);
const OWNER = { uid: 1000, gid: 100 };
const NAMES = ['a', 'b', 'c', 'd', 'e', '\u{1F600}'];

type Op =
  | { op: 'mkdir' | 'create'; dir: number; name: string; mode: number }
  | { op: 'symlink'; dir: number; name: string; target: string }
  | { op: 'link'; file: number; dir: number; name: string }
  | { op: 'write'; file: number; offset: number; length: number; seed: number }
  | { op: 'truncate'; file: number; size: number }
  | { op: 'commit'; file: number }
  | { op: 'rename'; node: number; dir: number; name: string }
  | { op: 'unlink' | 'rmdir'; node: number }
  | { op: 'setattr'; node: number; mode: number; uid: number }
  | { op: 'setxattr'; node: number; name: string; value: number }
  | { op: 'removexattr'; node: number; name: string };

const name = fc.constantFrom(...NAMES);
const xname = fc.constantFrom('user.a', 'user.b');
const size = fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 120_000, max: 300_000 }));
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constantFrom('mkdir' as const, 'create' as const, 'create' as const), dir: fc.nat(), name, mode: fc.constantFrom(0o644, 0o755, 0o600) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('symlink' as const), dir: fc.nat(), name, target: fc.constantFrom('a', '../b', '/x/y') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('link' as const), file: fc.nat(), dir: fc.nat(), name }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('write' as const), file: fc.nat(), offset: size, length: fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 100_000, max: 200_000 })), seed: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), file: fc.nat(), size }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('commit' as const), file: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rename' as const), node: fc.nat(), dir: fc.nat(), name }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constantFrom('unlink' as const, 'rmdir' as const), node: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('setattr' as const), node: fc.nat(), mode: fc.constantFrom(0o600, 0o640, 0o755), uid: fc.constantFrom(1000, 1001) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('setxattr' as const), node: fc.nat(), name: xname, value: fc.nat(255) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('removexattr' as const), node: fc.nat(), name: xname }) },
);

interface Dumped {
  readonly [path: string]: Record<string, unknown>;
}

/** Every path of the snapshot's tree with everything stat, readdir, readlink, xattrs and read show. */
async function dump(snap: Snapshot): Promise<Dumped> {
  const out: Record<string, Record<string, unknown>> = {};
  const visit = async (path: string): Promise<void> => {
    const i = snap.stat(path);
    const rec: Record<string, unknown> = {
      id: i.id, ino: i.ino, kind: i.kind, mode: i.mode, uid: i.uid, gid: i.gid, size: i.size, nlink: i.nlink,
      atime: i.atime, mtime: i.mtime, ctime: i.ctime, target: i.target, version: i.version ? toHex(i.version) : null, pending: i.pending,
      xattrs: Object.fromEntries(snap.listxattr(i.id).sort().map((x) => [x, toHex(snap.getxattr(i.id, x))])),
    };
    if (i.kind === 'symlink') rec['readlink'] = snap.readlink(path);
    if (i.kind === 'file') {
      rec['data'] = (await snap.read(i.id, 0, i.size)).toString('base64');
      rec['hash'] = toHex(snap.contentState(i.id)!.hash);
    }
    if (i.kind === 'dir') {
      const entries = snap.readdir(path);
      rec['entries'] = entries.map((e) => `${e.name}:${e.info.id}`);
      for (const e of entries) await visit(`${path === '/' ? '' : path}/${e.name}`);
    }
    out[path] = rec;
  };
  await visit('/');
  return out;
}

/** The first difference between two dumps, or null. */
function firstDifference(a: Dumped, b: Dumped): string | null {
  const paths = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const p of paths) {
    const x = JSON.stringify(a[p]);
    const y = JSON.stringify(b[p]);
    if (x !== y) return `${p}: ${x?.slice(0, 300)} != ${y?.slice(0, 300)}`;
  }
  return null;
}

interface Resolved {
  readonly dirs: string[];
  readonly files: string[];
  readonly nodes: string[];
}

function tree(engine: Engine): Resolved {
  const out: Resolved = { dirs: ['/home'], files: [], nodes: [] };
  const visit = (dir: string): void => {
    for (const e of engine.readdir(dir)) {
      const p = `${dir}/${e.name}`;
      out.nodes.push(p);
      if (e.info.kind === 'dir') {
        out.dirs.push(p);
        visit(p);
      } else if (e.info.kind === 'file') out.files.push(p);
    }
  };
  visit('/home');
  return out;
}

const at = <T>(xs: readonly T[], k: number): T | undefined => (xs.length === 0 ? undefined : xs[k % xs.length]);

/** Runs one operation; an operation the engine refuses (EngineError) is simply not in the log. */
async function run(engine: Engine, op: Op): Promise<void> {
  const r = tree(engine);
  const id = (p: string | undefined) => (p === undefined ? undefined : engine.stat(p).id);
  try {
    switch (op.op) {
      case 'mkdir':
      case 'create':
        await engine.run({ type: op.op, path: `${at(r.dirs, op.dir)}/${op.name}`, mode: op.mode, owner: OWNER });
        return;
      case 'symlink':
        await engine.run({ type: 'symlink', path: `${at(r.dirs, op.dir)}/${op.name}`, target: op.target, owner: OWNER });
        return;
      case 'link': {
        const f = at(r.files, op.file);
        if (f !== undefined) await engine.run({ type: 'link', path: f, newPath: `${at(r.dirs, op.dir)}/${op.name}` });
        return;
      }
      case 'write': {
        const f = id(at(r.files, op.file));
        if (f !== undefined) await engine.write(f, op.offset, content(op.seed, op.length));
        return;
      }
      case 'truncate': {
        const f = id(at(r.files, op.file));
        if (f !== undefined) await engine.truncate(f, op.size);
        return;
      }
      case 'commit': {
        const f = id(at(r.files, op.file));
        if (f !== undefined) await engine.commit(f);
        return;
      }
      case 'rename': {
        const n = at(r.nodes, op.node);
        if (n !== undefined) await engine.run({ type: 'rename', from: n, to: `${at(r.dirs, op.dir)}/${op.name}` });
        return;
      }
      case 'unlink':
      case 'rmdir': {
        const n = at(r.nodes, op.node);
        if (n !== undefined) await engine.run({ type: op.op, path: n });
        return;
      }
      case 'setattr': {
        const n = id(at(r.nodes, op.node));
        if (n !== undefined) await engine.run({ type: 'setattr', id: n, mode: op.mode, uid: op.uid });
        return;
      }
      case 'setxattr': {
        const n = id(at(r.nodes, op.node));
        if (n !== undefined) await engine.run({ type: 'setxattr', id: n, name: op.name, value: Uint8Array.of(op.value) });
        return;
      }
      case 'removexattr': {
        const n = id(at(r.nodes, op.node));
        if (n !== undefined) await engine.run({ type: 'removexattr', id: n, name: op.name });
        return;
      }
    }
  } catch (err) {
    if (!(err instanceof EngineError)) throw err;
  }
}

/** The first `n` entries of the log, in apply order. */
async function firstEntries(engine: Engine, n: number): Promise<Entry[]> {
  const out: Entry[] = [];
  for (let p = 1; p <= n; p++) {
    const row = engine.projections.positions.row(p)!;
    out.push(await engine.store.feeds.get(row.feed)!.get(row.seq));
  }
  return out;
}

const stats = { runs: 0, positions: 0, replays: 0, maxHead: 0, reads: 0 };

t.test('the tree at every position P is the tree the head showed at P, and a fresh replay of P entries', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-tt-prop-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let runNo = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 8, maxLength: 32 }), fc.array(fc.nat(), { minLength: 3, maxLength: 3 }), async (ops, picks) => {
      const root = join(dir, `run-${runNo++}`);
      const env = { now: fakeNow(1_800_000_000_000, 997), randomBytes: seededBytes(runNo) };
      await initStore(root, env);
      const engine = await Engine.open(root, env);
      try {
        await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
        const seen: Dumped[] = [await dump(engine.at(0)), await dump(engine.head)];
        for (const op of ops) {
          const before = engine.projections.head;
          await run(engine, op);
          const n = engine.projections.head;
          if (n === before) continue;
          if (n !== before + 1) throw new Error(`${JSON.stringify(op)} made ${n - before} entries`);
          seen.push(await dump(engine.head));
        }
        const head = engine.projections.head;
        if (seen.length !== head + 1) throw new Error(`${seen.length} dumps for ${head + 1} positions`);
        // Every position, standing in the past.
        for (let p = 0; p <= head; p++) {
          const diff = firstDifference(await dump(engine.at(p)), seen[p]!);
          if (diff !== null) throw new Error(`at @${p} of ${head}: ${diff}`);
        }
        // Random positions, replayed from scratch.
        for (const k of picks) {
          const p = k % (head + 1);
          const scratch = ProjectionSet.open(join(root, `replay-${p}`));
          try {
            scratch.applyEntries(await firstEntries(engine, p));
            if (scratch.head !== p) throw new Error(`replay of ${p} entries stands at ${scratch.head}`);
            const replayed = await dump(new Snapshot(headSource(scratch), engine.blocks, scratch.blockIndex));
            const diff = firstDifference(await dump(engine.at(p)), replayed);
            if (diff !== null) throw new Error(`at @${p} vs a replay of ${p} entries: ${diff}`);
          } finally {
            await scratch.close();
          }
          stats.replays++;
        }
        stats.runs++;
        stats.positions += head + 1;
        stats.maxHead = Math.max(stats.maxHead, head);
        stats.reads += seen.reduce((s, d) => s + Object.values(d).filter((r) => r['kind'] === 'file').length, 0);
      } finally {
        await engine.close();
        await rm(root, { recursive: true, force: true });
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  t.equal(stats.runs, RUNS, `${RUNS} runs`);
  t.ok(stats.positions > RUNS * 10, `${stats.positions} positions checked (longest log: ${stats.maxHead} entries)`);
  t.equal(stats.replays, RUNS * 3, `${stats.replays} fresh replays`);
  t.ok(stats.reads > RUNS * 10, `${stats.reads} file reads compared`);
});
