/**
 * A known history, written through the engine with an injected clock: creates, edits (some
 * left pending before their commit), renames of files and of a directory, deletes and a
 * re-create, chmod/chown/utimes, xattrs, symlinks, hard links, a rename over a file, a name
 * outside the BMP, a 300 KiB file edited in its middle, in two areas (two feeds). Every
 * action is exactly one entry, one minute after the last, so position n is the n-th action.
 *
 * For each position the story keeps the model's tree (the reference) and, optionally, what
 * the reading commands printed while that position was the head (observe.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hlcWallMs } from '../../../log/index.js';
import { Engine, initStore, type StoreEnv } from '../../../engine/index.js';
import { Model, type ModelState } from './model.js';
import { observe, type Observation } from './observe.js';
import { seededRandom } from '../../engine/helpers/env.js';

export const T0 = Date.UTC(2026, 2, 10, 9, 0, 0);
export const STEP_MS = 60_000;
export const OWNER = { uid: 1000, gid: 100 } as const;

export interface Clock {
  t: number;
}

/** The clock and seeded randomness every engine and CLI run of a test shares. */
export function storyEnv(seed = 7, start = T0): { env: StoreEnv; clock: Clock } {
  const clock: Clock = { t: start };
  const rnd = seededRandom(seed);
  return { clock, env: { now: () => clock.t, randomBytes: (n) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256)) } };
}

export interface Step {
  /** The apply position after this action. */
  readonly n: number;
  readonly label: string;
  /** The wall time of the entry (ms); the time of the store's creation for position 0. */
  readonly time: number;
  /** The feed and sequence number of the entry ('' and -1 for position 0). */
  readonly feed: string;
  readonly seq: number;
  readonly model: ModelState;
  /** What the reading commands printed while n was the head (when observed). */
  readonly head?: Observation;
}

export interface Story {
  readonly root: string;
  readonly env: StoreEnv;
  readonly clock: Clock;
  /** steps[n] is position n (steps[0]: the empty store). */
  readonly steps: readonly Step[];
  readonly publicKey: string;
  /** The engine over the store (opened on first use, closed on teardown). */
  engine(): Promise<Engine>;
  /** Closes the engine (so that CLI commands that write may open the store). */
  close(): Promise<void>;
}

/** 300 KiB of deterministic bytes: three blocks, the last one short. */
export function bigContent(): Buffer {
  const b = Buffer.alloc(300 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 9)) & 0xff;
  return b;
}

export const NOTES_V1 = 'one\ntwo\nthree\nfour\n';
export const NOTES_V2 = 'one\n2\nthree\nfour\nfive\n';

export async function writeStory(t: { teardown(fn: () => unknown): void }, opts: { observe?: boolean } = {}): Promise<Story> {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-tt-'));
  const root = join(dir, 'store');
  const { env, clock } = storyEnv();
  const { publicKey } = await initStore(root, env);
  let engine: Engine | null = await Engine.open(root, env);
  t.teardown(async () => {
    await engine?.close();
    engine = null;
    await rm(dir, { recursive: true, force: true });
  });
  const model = new Model();
  const steps: Step[] = [{ n: 0, label: 'the empty store', time: clock.t, feed: '', seq: -1, model: model.state(), ...(opts.observe ? { head: await observeHead() } : {}) }];

  async function observeHead(): Promise<Observation> {
    await engine!.close();
    engine = null;
    const o = await observe(env, root);
    engine = await Engine.open(root, env);
    return o;
  }

  const e = (): Engine => engine!;
  const id = (path: string): string => e().stat(path).id;

  /** One action: exactly one new entry, one minute after the last. */
  const act = async (label: string, run: () => Promise<unknown>, apply: () => void): Promise<void> => {
    clock.t += STEP_MS;
    const before = e().projections.head;
    await run();
    const n = e().projections.head;
    if (n !== before + 1) throw new Error(`story: "${label}" made ${n - before} entries, not 1`);
    apply();
    const row = e().projections.positions.row(n)!;
    const step: Step = { n, label, time: hlcWallMs(row.hlc), feed: row.feed, seq: row.seq, model: model.state() };
    steps.push(opts.observe ? { ...step, head: await observeHead() } : step);
  };

  const mkdir = (path: string, mode = 0o755) =>
    act(`mkdir ${path}`, () => e().run({ type: 'mkdir', path, mode, owner: OWNER }), () => model.mkdir(path, mode, OWNER.uid, OWNER.gid));
  const create = (path: string, mode = 0o644) =>
    act(`create ${path}`, () => e().run({ type: 'create', path, mode, owner: OWNER }), () => model.create(path, mode, OWNER.uid, OWNER.gid));
  const write = (path: string, offset: number, data: string | Buffer) => {
    const bytes = Buffer.from(data);
    return act(`write ${path} @${offset} (${bytes.length} bytes)`, () => e().write(id(path), offset, bytes), () => model.write(path, offset, bytes));
  };
  const commit = (path: string) => act(`commit ${path}`, () => e().commit(id(path)), () => undefined);
  const truncate = (path: string, size: number) => act(`truncate ${path} to ${size}`, () => e().truncate(id(path), size), () => model.truncate(path, size));
  const rename = (from: string, to: string) => act(`rename ${from} -> ${to}`, () => e().run({ type: 'rename', from, to }), () => model.rename(from, to));
  const unlink = (path: string) => act(`unlink ${path}`, () => e().run({ type: 'unlink', path }), () => model.unlink(path));
  const rmdir = (path: string) => act(`rmdir ${path}`, () => e().run({ type: 'rmdir', path }), () => model.rmdir(path));
  const symlink = (path: string, target: string) =>
    act(`symlink ${path} -> ${target}`, () => e().run({ type: 'symlink', path, target, owner: OWNER }), () => model.symlink(path, target, OWNER.uid, OWNER.gid));
  const link = (path: string, newPath: string) => act(`link ${path} ${newPath}`, () => e().run({ type: 'link', path, newPath }), () => model.link(path, newPath));
  const setattr = (path: string, attrs: { mode?: number; uid?: number; gid?: number; mtime?: number }) =>
    act(`setattr ${path} ${JSON.stringify(attrs)}`, () => e().run({ type: 'setattr', id: id(path), ...attrs }), () => model.setattr(path, attrs));
  const setxattr = (path: string, name: string, value: string) =>
    act(`setxattr ${path} ${name}=${value}`, () => e().run({ type: 'setxattr', id: id(path), name, value: Buffer.from(value) }), () => model.setxattr(path, name, Buffer.from(value)));
  const removexattr = (path: string, name: string) =>
    act(`removexattr ${path} ${name}`, () => e().run({ type: 'removexattr', id: id(path), name }), () => model.removexattr(path, name));

  await mkdir('/home'); // 1: area home (its own feed)
  await mkdir('/work'); // 2: area work (another feed)
  await mkdir('/home/docs'); // 3
  await create('/home/docs/a.txt'); // 4
  await write('/home/docs/a.txt', 0, 'hello\n'); // 5: pending until 6
  await commit('/home/docs/a.txt'); // 6
  await create('/home/docs/b.txt'); // 7
  await write('/home/docs/b.txt', 0, 'bravo\n'); // 8: pending until 14
  await create('/work/big.bin'); // 9
  await write('/work/big.bin', 0, bigContent()); // 10
  await commit('/work/big.bin'); // 11
  await write('/home/docs/a.txt', 6, 'world\n'); // 12
  await commit('/home/docs/a.txt'); // 13
  await commit('/home/docs/b.txt'); // 14
  await symlink('/home/link', 'docs/a.txt'); // 15
  await link('/home/docs/a.txt', '/home/hard.txt'); // 16: a.txt has two names
  await setxattr('/home/docs/a.txt', 'user.color', 'red'); // 17
  await setattr('/home/docs/b.txt', { mode: 0o600 }); // 18
  await setattr('/home/docs/b.txt', { uid: 2000, gid: 300 }); // 19
  await rename('/home/docs/b.txt', '/home/docs/c.txt'); // 20
  await mkdir('/home/docs/sub'); // 21
  await create('/home/docs/sub/deep.txt'); // 22
  await write('/home/docs/sub/deep.txt', 0, 'deep\n'); // 23
  await commit('/home/docs/sub/deep.txt'); // 24
  await rename('/home/docs', '/home/papers'); // 25: a directory rename
  await write('/work/big.bin', 150_000, 'PATCHED'); // 26: the middle of block 1
  await commit('/work/big.bin'); // 27
  await unlink('/home/papers/c.txt'); // 28: deleted...
  await create('/home/papers/c.txt'); // 29: ...and re-created (a new node)
  await write('/home/papers/c.txt', 0, 'charlie v2\n'); // 30
  await commit('/home/papers/c.txt'); // 31
  await truncate('/home/papers/a.txt', 3); // 32
  await commit('/home/papers/a.txt'); // 33
  await removexattr('/home/papers/a.txt', 'user.color'); // 34
  await setxattr('/home/hard.txt', 'user.size', 'big'); // 35: through the other name
  await unlink('/home/link'); // 36
  await symlink('/home/link', 'papers/c.txt'); // 37: the link now points elsewhere
  await setattr('/home/papers/c.txt', { mtime: T0 - 86_400_000 }); // 38: utimes
  await unlink('/home/papers/sub/deep.txt'); // 39
  await rmdir('/home/papers/sub'); // 40
  await create('/home/papers/\u{1F600}.txt'); // 41: a name beyond U+FFFF
  await write('/home/papers/\u{1F600}.txt', 0, 'smile\n'); // 42
  await commit('/home/papers/\u{1F600}.txt'); // 43
  await rename('/home/hard.txt', '/home/papers/hard2.txt'); // 44
  await rename('/home/papers/c.txt', '/home/papers/a.txt'); // 45: over a.txt (its inode lives on as hard2.txt)
  await mkdir('/work/empty'); // 46
  await setattr('/home/papers', { mode: 0o700 }); // 47: directory metadata
  await create('/home/notes.txt'); // 48
  await write('/home/notes.txt', 0, NOTES_V1); // 49
  await commit('/home/notes.txt'); // 50
  await write('/home/notes.txt', 0, NOTES_V2); // 51
  await commit('/home/notes.txt'); // 52

  return {
    root,
    env,
    clock,
    steps,
    publicKey,
    async engine() {
      engine ??= await Engine.open(root, env);
      return engine;
    },
    async close() {
      await engine?.close();
      engine = null;
    },
  };
}
