/**
 * B offline: Unreal content in its cache is served; content that is not fails that read
 * with EIO at once (no peer connected) or after the short fetch timeout (a peer that does not
 * answer), never hanging; `realize status` says which files are unavailable and why.
 */
import t, { type Test } from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { EngineError } from '../../engine/index.js';
import { pathStatus, statusContext } from '../../engine/placement/index.js';
import { until } from '../sync/helpers/peers.js';
import { bigFile, connected, readAt, unrealPair } from './helpers/pair.js';

async function failsWithin(t: Test, p: Promise<unknown>, ms: number, what: string): Promise<void> {
  const start = Date.now();
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  const took = Date.now() - start;
  t.ok(err instanceof EngineError && err.code === 'BLOCK_MISSING', `${what}: fails with BLOCK_MISSING (EIO on the mount): ${(err as Error)?.message}`);
  t.ok(took < ms, `${what}: in ${took} ms (< ${ms})`);
}

t.test('offline: cached content is served, uncached reads fail fast, status says why', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const data = await bigFile(pair, '/home/doc.bin', 10);
  await connected(pair);
  const head = await readAt(b, '/home/doc.bin', 0, BLOCK_SIZE);
  t.ok(head.equals(data.subarray(0, BLOCK_SIZE)), 'the first block read (and cached) while online');

  // A peer that does not answer: the read gives up after the fetch timeout.
  b.engine.placement!.configure({ settings: { fetchTimeoutMs: 400 } });
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  // A serves blocks by readRuns (a batch together) and get (one by one): both hang.
  const get = a.engine.blocks.get.bind(a.engine.blocks);
  const readRuns = a.engine.blocks.readRuns.bind(a.engine.blocks);
  a.engine.blocks.get = async (hash: Uint8Array) => {
    await gate;
    return get(hash);
  };
  a.engine.blocks.readRuns = async (...args: Parameters<typeof readRuns>) => {
    await gate;
    return readRuns(...args);
  };
  t.teardown(() => release());
  await failsWithin(t, readAt(b, '/home/doc.bin', 7 * BLOCK_SIZE, 100), 2000, 'a peer that does not answer');

  // Offline: a goes away.
  await a.stop();
  await until(() => !(b.engine.placement?.fetcher.connected ?? true), 5000, 'b notices a is gone');
  const again = await readAt(b, '/home/doc.bin', 0, BLOCK_SIZE);
  t.ok(again.equals(head), 'the cached block is served offline');
  // With no peer connected a read does not wait for the fetch timeout: set it long, so the
  // bound below tells the two apart even on a loaded machine.
  b.engine.placement!.configure({ settings: { fetchTimeoutMs: 10_000 } });
  await failsWithin(t, readAt(b, '/home/doc.bin', 3 * BLOCK_SIZE, 100), 2000, 'an uncached block with no peer');
  await b.engine.placement!.unavailable.save();

  const ctx = await statusContext(b.engine);
  const st = pathStatus(b.engine, '/home', ctx);
  t.equal(st.placement, 'unreal', '/home is unreal on b');
  t.equal(st.presence.presence, 'part', 'part of its content is here');
  const u = st.unavailable.find((x) => x.path === '/home/doc.bin');
  t.ok(u !== undefined, 'doc.bin is listed as unavailable');
  t.match(u?.reason ?? '', /not all here/, `with a reason: ${u?.reason}`);
});
