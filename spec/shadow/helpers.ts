/**
 * Helpers for spec/shadow and spec/famfs: a real store in a temp dir with a fake clock and
 * seeded randomness (so ids, times, signatures and extents are the same on every run), the
 * golden tree of spec/fixtures/shadow, and reading a directory tree back for comparison.
 */
import { lstat, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, initStore, mkfs, DeviceRegistry, type StoreEnv } from '../../engine/index.js';
import { BLOCK_SIZE, type FsEvent } from '../../log/index.js';
import { seededBytes } from '../engine/helpers/env.js';

export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

export const T0 = 1_700_000_000_000;
export const OWNER = { uid: 1000, gid: 100 };

export { seededBytes };

export function fixedEnv(seed = 7): StoreEnv {
  let t = T0;
  return { now: () => (t += 1000), randomBytes: seededBytes(seed) };
}

export async function tempDir(t: HasTeardown, name = 'shadow'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `realize-spec-${name}-`));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

export async function openStore(t: HasTeardown, env: StoreEnv = fixedEnv()): Promise<{ engine: Engine; root: string; base: string; env: StoreEnv }> {
  const base = await tempDir(t, 'store');
  const root = join(base, 'store');
  await initStore(root, env);
  const engine = await Engine.open(root, env);
  t.teardown(() => engine.close().catch(() => undefined));
  return { engine, root, base, env };
}

/** Writes a whole file through the engine (create, write, commit). */
export async function putFile(engine: Engine, path: string, data: string | Uint8Array, mode = 0o644): Promise<string> {
  await engine.run({ type: 'create', path, mode, owner: OWNER });
  const id = engine.stat(path).id;
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  if (bytes.byteLength > 0) await engine.write(id, 0, bytes);
  await engine.commit(id);
  return id;
}

export function nid(n: number): string {
  return n.toString(16).padStart(32, '0');
}

/** Block hashes of `data` once stored, and the write event's block list. */
async function blocksOf(engine: Engine, data: Uint8Array): Promise<Array<readonly [number, Uint8Array]>> {
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < data.byteLength; at += BLOCK_SIZE) pieces.push(data.subarray(at, Math.min(data.byteLength, at + BLOCK_SIZE)));
  return (await engine.blocks.putMany(pieces)).map((h, i) => [i, h] as const);
}

export const GOLDEN_DEVICE = 'edadcb55e8f8d7002ac01a15e9459643';

/**
 * The golden log (spec/fixtures/shadow/golden/): fixed ids and times, every kind of entry. A
 * regular file, an empty one, directories, symlinks (one pointing out of the tree), hard
 * links, names the YAML must quote or the shadow must escape, and a famfs file with extents.
 * Built from explicit events, so it depends on the projections and nothing else.
 */
export async function buildGolden(engine: Engine): Promise<void> {
  const u = OWNER.uid;
  const g = OWNER.gid;
  let t = T0;
  const time = (): number => (t += 1000);
  const file = async (id: string, parent: string, name: string, data: string, mode = 0o644): Promise<FsEvent[]> => {
    const bytes = Buffer.from(data);
    const at = time();
    const evs: FsEvent[] = [{ type: 'create', id, parent, name, mode, uid: u, gid: g, time: at }];
    if (bytes.byteLength > 0) evs.push({ type: 'write', id, size: bytes.byteLength, blocks: await blocksOf(engine, bytes), time: at });
    evs.push({ type: 'commit', id, time: at });
    return evs;
  };
  const HOME = nid(1);
  const DOCS = nid(2);
  const NOTES = nid(3);
  await engine.appendEvents('home', [
    { type: 'area-create', area: 'home', root: HOME, mode: 0o755, uid: u, gid: g, time: time() },
    { type: 'mkdir', id: DOCS, parent: HOME, name: 'docs', mode: 0o750, uid: u, gid: g, time: time() },
    ...(await file(NOTES, DOCS, 'notes.txt', 'hello, shadow\n')),
    ...(await file(nid(4), DOCS, 'empty', '', 0o600)),
    { type: 'symlink', id: nid(5), parent: DOCS, name: 'link-to-notes', target: 'notes.txt', uid: u, gid: g, time: time() },
    { type: 'symlink', id: nid(6), parent: HOME, name: 'outside', target: '../../../etc/passwd', uid: u, gid: g, time: time() },
    { type: 'link', id: NOTES, parent: HOME, name: 'hardlink.txt', time: time() },
    ...(await file(nid(7), HOME, 'it\'s "quoted": yes', 'q')),
    ...(await file(nid(8), HOME, 'tab\there é ☃', 't')),
    ...(await file(nid(9), HOME, '.realize-dir.yaml', 'a file whose name the shadow reserves')),
    { type: 'mkdir', id: nid(10), parent: HOME, name: 'empty-dir', mode: 0o700, uid: u, gid: g, time: time() },
    { type: 'setattr', id: NOTES, uid: 0, gid: 0, time: time() },
  ]);
  // A famfs area: a device of 64 MiB, and a file of 3 MiB + 1 byte in it (two 2 MiB units).
  const FAM = nid(0x20);
  const DATA = nid(0x21);
  const data = Buffer.alloc(3 * 1024 * 1024 + 1);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  await engine.appendEvents('fam', [
    { type: 'area-create', area: 'fam', root: FAM, mode: 0o755, uid: u, gid: g, time: time() },
    { type: 'famfs-device', area: 'fam', device: GOLDEN_DEVICE, size: 64 * 1024 * 1024, time: time() },
    { type: 'create', id: DATA, parent: FAM, name: 'data.bin', mode: 0o644, uid: u, gid: g, time: time() },
  ]);
  const extents = engine.projections.famfs.plan('fam', data.byteLength)!;
  const at = time();
  await engine.appendEvents('fam', [
    { type: 'famfs-alloc', id: DATA, extents, time: at },
    { type: 'write', id: DATA, size: data.byteLength, blocks: await blocksOf(engine, data), time: at },
    { type: 'commit', id: DATA, time: at },
  ]);
}

/** A famfs device file for tests, registered with the store. */
export async function makeDevice(engine: Engine, env: StoreEnv, dir: string, area: string, size = 64 * 1024 * 1024): Promise<{ path: string; uuid: string }> {
  const path = join(dir, `dev-${area}`);
  const sb = await mkfs(path, { size, randomBytes: env.randomBytes, now: env.now });
  await new DeviceRegistry(engine.store.layout.root).set(sb.uuid, path);
  await engine.appendEvents(area, [{ type: 'famfs-device', area, device: sb.uuid, size: sb.size, time: env.now() }]);
  return { path, uuid: sb.uuid };
}

export interface TreeEntry {
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly content?: string;
  readonly mode?: number;
  readonly mtime?: number;
}

/** Every entry under `dir` (relative path -> type and content/target), without following anything. */
export async function readTree(dir: string, opts: { meta?: boolean; skip?: (rel: string) => boolean } = {}): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const name of (await readdir(d)).sort()) {
      const r = rel === '' ? name : `${rel}/${name}`;
      if (opts.skip?.(r)) continue;
      const p = join(d, name);
      const st = await lstat(p);
      const meta = opts.meta ? { mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs) } : {};
      if (st.isDirectory()) {
        out[r] = { type: 'dir', ...(opts.meta ? { mode: st.mode & 0o7777 } : {}) };
        await walk(p, r);
      } else if (st.isSymbolicLink()) out[r] = { type: 'symlink', content: await readlink(p) };
      else if (st.isFile()) out[r] = { type: 'file', content: (await readFile(p)).toString('base64'), ...meta };
      else out[r] = { type: 'other' };
    }
  };
  await walk(dir, '');
  return out;
}
