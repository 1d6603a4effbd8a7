/**
 * Peers for sync tests: stores in temp dirs with engines, household membership between
 * them, sync nodes listening on 127.0.0.1 (never anything else), and bounded waits. Every
 * node, engine and directory is closed on teardown.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, initStore, type StoreEnv } from '../../../engine/index.js';
import { addPeer, createArea, formatAddress, setFollow, SyncNode, type NodeOptions } from '../../../engine/sync/index.js';
import { OWNER, seededBytes } from '../../engine/helpers/env.js';

export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

export interface Peer {
  readonly name: string;
  readonly root: string;
  readonly env: StoreEnv;
  engine: Engine;
  node: SyncNode | null;
  readonly logs: string[];
  readonly key: string;
  /** Starts (or restarts) its sync node, listening on 127.0.0.1 unless deaf. */
  start(opts?: Partial<NodeOptions> & { deaf?: boolean }): Promise<SyncNode>;
  stop(): Promise<void>;
  /** Closes and reopens the engine (as a restart would), node stopped. */
  restart(): Promise<void>;
  readonly address: string;
}

let counter = 0;

export async function makePeer(t: HasTeardown, name: string, seed = ++counter * 7919): Promise<Peer> {
  const dir = await mkdtemp(join(tmpdir(), `realize-spec-sync-${name}-`));
  const root = join(dir, 'store');
  // Real time: hybrid clocks of different peers must interleave as on real machines.
  const env: StoreEnv = { now: () => Date.now(), randomBytes: seededBytes(seed) };
  await initStore(root, env);
  const engine = await Engine.open(root, env);
  const p: Peer = {
    name,
    root,
    env,
    engine,
    node: null,
    logs: [],
    key: engine.store.publicKey,
    async start(opts = {}) {
      if (p.node !== null) await p.node.close();
      const { deaf, ...rest } = opts;
      p.node = await SyncNode.start(p.engine, {
        ...(deaf ? {} : { listen: { host: '127.0.0.1', port: 0 } }),
        log: (line) => p.logs.push(line),
        handshakeTimeoutMs: 3000,
        connectTimeoutMs: 3000,
        reconnectMs: 100,
        ...rest,
      });
      return p.node;
    },
    async stop() {
      const n = p.node;
      p.node = null;
      await n?.close();
    },
    async restart() {
      await p.stop();
      await p.engine.close();
      p.engine = await Engine.open(root, env);
    },
    get address() {
      const a = p.node?.address;
      if (!a) throw new Error(`${name} is not listening`);
      return formatAddress(a);
    },
  };
  t.teardown(async () => {
    await p.stop().catch(() => undefined);
    await p.engine.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });
  return p;
}

/** Makes each peer a member of the others' household (each adds every other). */
export async function household(...peers: Peer[]): Promise<void> {
  for (const a of peers) for (const b of peers) if (a !== b) await addPeer(a.engine, b.name, b.key, null);
}

export async function area(p: Peer, name: string): Promise<void> {
  await createArea(p.engine, name, OWNER);
}

export async function follow(p: Peer, name: string, on = true): Promise<void> {
  await setFollow(p.root, name, on);
}

/** Writes a file (creating it) at `path` with `data`; commits it. */
export async function writeFile(p: Peer, path: string, data: Uint8Array): Promise<void> {
  if (p.engine.lookup(path) === undefined) await p.engine.run({ type: 'create', path, mode: 0o644, owner: OWNER });
  const id = p.engine.stat(path).id;
  await p.engine.write(id, 0, data);
  await p.engine.commit(id);
}

export async function readFile(p: Peer, path: string): Promise<Buffer> {
  const info = p.engine.stat(path);
  return p.engine.read(info.id, 0, info.size);
}

/** Dials `to` from `from` and syncs once. */
export async function syncOnce(from: Peer, to: Peer) {
  const node = from.node ?? (await from.start({ deaf: true }));
  return node.syncWith({ key: to.key, address: to.address });
}

/** Polls `check` every 20 ms until it holds, for at most `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The feed lengths a peer holds, by name. */
export function lengths(p: Peer): Record<string, number> {
  return Object.fromEntries(p.engine.store.feeds.list().map((f) => [f.name, f.length]));
}
