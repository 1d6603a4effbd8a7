/**
 * Determinism (DESIGN property 1): three peers make random concurrent changes (writes,
 * renames of files and directories, deletes, mkdirs) while entries travel between them in
 * random orders and random partitions. Once everyone holds every entry, every peer's
 * projections have the same digest, whatever order the entries arrived in, and the tree
 * passes an invariant check: no cycles, no orphans, every live node reachable once.
 */
import fc from 'fast-check';
import t, { type Test } from 'tap';
import { Engine, type NodeInfo } from '../../engine/index.js';
import { parseFeedName } from '../../log/index.js';
import { OWNER, content, openStore, seededBytes, type TestStore } from '../engine/helpers/env.js';

type Op =
  | { readonly kind: 'mkdir'; readonly peer: number; readonly pick: number; readonly name: string }
  | { readonly kind: 'write'; readonly peer: number; readonly pick: number; readonly name: string; readonly at: number; readonly len: number }
  | { readonly kind: 'move'; readonly peer: number; readonly pick: number; readonly to: number; readonly name: string }
  | { readonly kind: 'delete'; readonly peer: number; readonly pick: number }
  | { readonly kind: 'ship'; readonly from: number; readonly to: number; readonly share: number };

const name = fc.constantFrom('a', 'b', 'c', 'd.txt', 'e.txt');
const peer = fc.integer({ min: 0, max: 2 });
const pick = fc.nat(1000);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('mkdir' as const), peer, pick, name }),
  fc.record({ kind: fc.constant('write' as const), peer, pick, name, at: fc.integer({ min: 0, max: 300_000 }), len: fc.integer({ min: 1, max: 140_000 }) }),
  fc.record({ kind: fc.constant('move' as const), peer, pick, to: pick, name }),
  fc.record({ kind: fc.constant('delete' as const), peer, pick }),
  fc.record({ kind: fc.constant('ship' as const), from: peer, to: peer, share: fc.double({ min: 0.1, max: 1, noNaN: true }) }),
);

/** Every node below the area root, depth first: [path, info]. */
function walk(e: Engine, path = '/home'): Array<[string, NodeInfo]> {
  const out: Array<[string, NodeInfo]> = [];
  for (const d of e.readdir(path)) {
    const p = `${path}/${d.name}`;
    out.push([p, d.info]);
    if (d.info.kind === 'dir') out.push(...walk(e, p));
  }
  return out;
}

/** Ships a prefix (share) of every feed `from` holds that `to` lacks, feeds in a random order. */
async function ship(from: Engine, to: Engine, share: number, shuffle: number): Promise<void> {
  for (const [h] of from.projections.blockIndex.entries()) if (!to.blocks.has(h)) await to.blocks.putMany([await from.blocks.get(h)]);
  await to.blocks.sync();
  const feeds = from.store.feeds.list().filter((f) => !f.name.startsWith(to.store.publicKey));
  const order = feeds.map((f, i) => ({ f, k: (i * 7919 + shuffle) % 101 })).sort((a, b) => a.k - b.k);
  for (const { f } of order) {
    const have = to.store.feeds.get(f.name)?.length ?? 0;
    const upTo = Math.max(have, Math.ceil(f.length * share));
    if (upTo > have) await to.receive(parseFeedName(f.name), await f.readRecords(have, upTo));
  }
}

async function apply(peers: Engine[], o: Op, step: number): Promise<void> {
  if (o.kind === 'ship') {
    if (o.from !== o.to) await ship(peers[o.from]!, peers[o.to]!, o.share, step);
    return;
  }
  const e = peers[o.peer]!;
  const nodes = walk(e);
  const dirs = ['/home', ...nodes.filter(([, i]) => i.kind === 'dir').map(([p]) => p)];
  const files = nodes.filter(([, i]) => i.kind === 'file').map(([p]) => p);
  const any = nodes.map(([p]) => p);
  const quiet = (p: Promise<unknown>): Promise<unknown> => p.catch(() => undefined); // refused ops are fine
  switch (o.kind) {
    case 'mkdir':
      await quiet(e.run({ type: 'mkdir', path: `${dirs[o.pick % dirs.length]}/${o.name}`, mode: 0o755, owner: OWNER }));
      return;
    case 'write': {
      const path = files.length > 0 && o.pick % 3 !== 0 ? files[o.pick % files.length]! : `${dirs[o.pick % dirs.length]}/${o.name}`;
      if (!files.includes(path)) {
        const made = await e.run({ type: 'create', path, mode: 0o644, owner: OWNER }).then(() => true, () => false);
        if (!made) return;
      }
      const id = e.stat(path).id;
      await e.write(id, o.at, content(`${o.peer}:${step}`, o.len));
      await e.commit(id);
      return;
    }
    case 'move':
      if (any.length === 0) return;
      await quiet(e.run({ type: 'rename', from: any[o.pick % any.length]!, to: `${dirs[o.to % dirs.length]}/${o.name}` }));
      return;
    case 'delete': {
      if (any.length === 0) return;
      const p = any[o.pick % any.length]!;
      await quiet(e.run(e.stat(p).kind === 'dir' ? { type: 'rmdir', path: p } : { type: 'unlink', path: p }));
      return;
    }
  }
}

function invariants(t: Test, e: Engine, label: string): void {
  const seen = new Set<string>();
  const nodes = walk(e);
  for (const [path, info] of nodes) {
    if (info.kind === 'dir') {
      t.notOk(seen.has(info.id), `${label}: directory ${path} is reachable once (no cycle)`);
    }
    seen.add(info.id);
    t.ok(info.nlink > 0, `${label}: ${path} is live`);
  }
  // Every live directory the tree knows hangs below the area root: no orphans.
  for (const [id, row] of e.projections.content.rows()) {
    const node = e.projections.tree.node(id);
    if (node && node.nlink > 0 && row.size >= 0) t.ok(seen.has(id), `${label}: live file ${id} is reachable`);
  }
}

t.test('three peers, random concurrent changes, random delivery: identical projections, a sound tree', async (t) => {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 5, maxLength: 28 }), async (ops) => {
      run++;
      const stores: TestStore[] = [];
      let clock = 1_800_000_000_000;
      for (let i = 0; i < 3; i++) {
        // One clock for the household; each peer its own randomness.
        stores.push(await openStore(t, { env: { now: () => (clock += 7), randomBytes: seededBytes(run * 10 + i) } }));
      }
      const peers = stores.map((s) => s.engine);
      await peers[0]!.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
      await ship(peers[0]!, peers[1]!, 1, 0);
      await ship(peers[0]!, peers[2]!, 1, 0);
      let step = 0;
      for (const o of ops) await apply(peers, o, step++);
      // Everyone gets everything, in two rounds of different orders.
      for (let round = 0; round < 2; round++) {
        for (const [a, b] of [[0, 1], [1, 2], [2, 0], [1, 0], [2, 1], [0, 2]] as const) await ship(peers[a]!, peers[b]!, 1, round * 31 + a);
      }
      const digests = peers.map((e) => new Map(e.projections.digests().filter((d) => !d.local).map((d) => [d.name, d.digest])));
      for (const name of digests[0]!.keys()) {
        if (digests[1]!.get(name) !== digests[0]!.get(name) || digests[2]!.get(name) !== digests[0]!.get(name)) {
          throw new Error(`projection ${name} differs between peers after ${JSON.stringify(ops)}`);
        }
      }
      peers.forEach((e, i) => invariants(t, e, `peer ${i}`));
      for (const s of stores) await s.close();
    }),
    { numRuns: 12, seed: 20261122, endOnFailure: true },
  );
  t.ok(run >= 12, `${run} random histories converged`);
});

t.test('crossing renames (x into y on one peer, y into x on another) end without a cycle, the same everywhere', async (t) => {
  let clock = 1_800_000_000_000;
  const stores = [await openStore(t, { env: { now: () => (clock += 5), randomBytes: seededBytes(901) } }), await openStore(t, { env: { now: () => (clock += 5), randomBytes: seededBytes(902) } })];
  const [a, b] = stores.map((s) => s.engine) as [Engine, Engine];
  await a.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await a.run({ type: 'mkdir', path: '/home/x', mode: 0o755, owner: OWNER });
  await a.run({ type: 'mkdir', path: '/home/y', mode: 0o755, owner: OWNER });
  await a.run({ type: 'create', path: '/home/x/keep.txt', mode: 0o644, owner: OWNER });
  await ship(a, b, 1, 0);
  await a.run({ type: 'rename', from: '/home/x', to: '/home/y/x' });
  await b.run({ type: 'rename', from: '/home/y', to: '/home/x/y' });
  await ship(a, b, 1, 1);
  await ship(b, a, 1, 2);
  const da = a.projections.digests().filter((d) => !d.local);
  const db = b.projections.digests().filter((d) => !d.local);
  t.same(db, da, 'both peers hold the same projections');
  for (const [label, e] of [['a', a], ['b', b]] as const) {
    invariants(t, e, label);
    const paths = walk(e).map(([p]) => p);
    t.ok(paths.some((p) => p.endsWith('/keep.txt')), `${label}: no file lost (${paths.join(', ')})`);
    t.equal(paths.filter((p) => /\/(x|y)$/.test(p)).length, 2, `${label}: both directories survive, one inside the other`);
  }
});
