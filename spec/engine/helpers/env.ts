/**
 * Test helpers for spec/engine, spec/projections and spec/tools: deterministic time,
 * randomness and content, temp dirs that clean up, and a real store opened in a temp dir
 * (initStore + Engine.open with an injected clock and random source).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, initStore, type EngineOptions, type Owner, type StoreEnv } from '../../../engine/index.js';
import { mulberry32 } from '../../../tools/bench/prng.js';

export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

export const OWNER: Owner = { uid: 1000, gid: 100 };

/** A fake wall clock (ms) that advances by `step` on every read. */
export function fakeNow(start = 1_700_000_000_000, step = 1): () => number {
  let t = start - step;
  return () => (t += step);
}

/** mulberry32: a small seeded PRNG. */
export const seededRandom = mulberry32;

/** A seeded randomBytes(n), the shape StoreEnv wants. */
export function seededBytes(seed: number): (n: number) => Uint8Array {
  const rnd = seededRandom(seed);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
}

export function testEnv(seed = 1, start = 1_700_000_000_000): StoreEnv {
  return { now: fakeNow(start), randomBytes: seededBytes(seed) };
}

/** `n` deterministic, incompressible bytes named by `label` (SHA-256 in counter mode). */
export function content(label: string | number, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, k = 0; i < n; i += 32, k++) {
    createHash('sha256').update(`${label}:${k}`).digest().copy(out, i, 0, Math.min(32, n - i));
  }
  return out;
}

export async function tempDir(t: HasTeardown, prefix = 'realize-spec-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An engine over a fresh store, and a way to close and open it again. Closed on teardown. */
export interface TestStore {
  readonly root: string;
  readonly env: StoreEnv;
  engine: Engine;
  reopen(opts?: EngineOptions): Promise<Engine>;
  close(): Promise<void>;
}

export async function openStore(t: HasTeardown, opts: { seed?: number; env?: StoreEnv; engine?: EngineOptions } = {}): Promise<TestStore> {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-engine-'));
  const root = join(dir, 'store');
  const env = opts.env ?? testEnv(opts.seed ?? 1);
  await initStore(root, env);
  let open = true;
  const s: TestStore = {
    root,
    env,
    engine: await Engine.open(root, env, opts.engine),
    async reopen(o?: EngineOptions) {
      if (open) await s.engine.close();
      open = false;
      s.engine = await Engine.open(root, env, o);
      open = true;
      return s.engine;
    },
    async close() {
      if (open) await s.engine.close();
      open = false;
    },
  };
  t.teardown(async () => {
    await s.close();
    await rm(dir, { recursive: true, force: true });
  });
  return s;
}
