/**
 * Past listings (dir-listings.ts): a directory changed often enough to get periodic listings
 * lists, at every past position, exactly what a model of its names says; the listings are
 * the same whether the entries were applied one by one, in one batch, or rewound into.
 */
import t from 'tap';
import type { Entry, FsEvent, NodeId } from '../../log/index.js';
import { LISTING_EVERY, ProjectionSet } from '../../projections/index.js';
import { nid } from '../engine/helpers/given.js';
import { seededRandom as prng } from '../engine/helpers/env.js';
import { feedOf, openProjections } from './helpers/feeds.js';

const R = nid(1);
const D = nid(2);
const o = { uid: 0, gid: 0 };

const open = (t: { teardown(fn: () => Promise<void>): void }): Promise<ProjectionSet> => openProjections(t, 'listings');

/**
 * Entries of creates, renames (some back and forth within one entry), unlinks and re-creates
 * in one directory; `model[p]` is its listing after entry p (position p + 1 once the area's
 * entry is applied: the first entry is position 1).
 */
function story(entries: number): { log: Entry[]; model: Array<Map<string, NodeId>> } {
  const feed = feedOf(3);
  const rnd = prng(9);
  let next = 0x100;
  let time = 100;
  const names = new Map<string, NodeId>();
  const log: Entry[] = [];
  const model: Array<Map<string, NodeId>> = [new Map()];
  const first = feed(0, time, [
    { type: 'area-create', area: 'home', root: R, mode: 0o755, ...o, time },
    { type: 'mkdir', id: D, parent: R, name: 'd', mode: 0o755, ...o, time },
  ], null);
  log.push(first);
  model.push(new Map());
  for (let e = 1; e <= entries; e++) {
    time++;
    const events: FsEvent[] = [];
    for (let k = 0; k < 40; k++) {
      const r = rnd();
      const existing = [...names.keys()];
      if (existing.length < 20 || r < 0.35) {
        const name = `f${Math.floor(rnd() * 400)}`;
        if (names.has(name)) continue;
        const id = nid(next++);
        events.push({ type: 'create', id, parent: D, name, mode: 0o644, ...o, time });
        names.set(name, id);
      } else if (r < 0.7) {
        const from = existing[Math.floor(rnd() * existing.length)]!;
        const to = `g${Math.floor(rnd() * 400)}`;
        if (names.has(to)) continue;
        const id = names.get(from)!;
        events.push({ type: 'rename', id, parent: D, name: from, newParent: D, newName: to, time });
        names.delete(from);
        names.set(to, id);
        if (rnd() < 0.3) {
          // Back again in the same entry: the name changes twice at one position.
          events.push({ type: 'rename', id, parent: D, name: to, newParent: D, newName: from, time });
          names.delete(to);
          names.set(from, id);
        }
      } else {
        const name = existing[Math.floor(rnd() * existing.length)]!;
        events.push({ type: 'unlink', id: names.get(name)!, parent: D, name, time });
        names.delete(name);
      }
    }
    log.push(feed(e, time, events, log.at(-1)!));
    model.push(new Map(names));
  }
  return { log, model };
}

const sorted = (m: Map<string, NodeId>): Array<{ name: string; id: NodeId }> =>
  [...m.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))).map((name) => ({ name, id: m.get(name)! }));

const ENTRIES = Math.ceil((LISTING_EVERY * 6) / 40);

t.test('every past listing equals the model, across several periodic listings', async (t) => {
  const { log, model } = story(ENTRIES);
  const one = await open(t);
  for (const e of log) one.applyEntries([e]);
  const batch = await open(t);
  batch.applyEntries(log);
  t.equal(one.head, log.length);
  let mismatches = 0;
  for (let p = 1; p <= one.head; p++) {
    const want = sorted(model[p]!);
    const a = one.tree.childrenAt(D, p);
    const b = batch.tree.childrenAt(D, p);
    if (JSON.stringify(a) !== JSON.stringify(want) || JSON.stringify(b) !== JSON.stringify(want)) mismatches++;
  }
  t.equal(mismatches, 0, `all ${one.head} positions list what the model says`);
  // The current rows also hold each node's kind (tree.test.ts); a past listing names ids only.
  t.same([...one.tree.childrenAt(D, one.head)], [...one.tree.children(D)].map(({ name, id }) => ({ name, id })), 'the head listing equals the current rows');
  const tree = (s: ProjectionSet): string | undefined => s.digests().find((d) => d.name === 'tree')?.digest;
  t.equal(tree(one), tree(batch), 'one by one and in one batch: the same rows (listings included)');
  const listingsDb = one.tree.dbs.find(([name]) => name === 'tree-listings')![1];
  // Listings are keyed by the directory's inode key (inode-table.ts keyOf).
  const dk = one.inodes.keyOf(D)!;
  const listings = [...listingsDb.getKeys({ start: `${dk}\0`, end: `${dk}\x01` })];
  t.ok(listings.length >= 3, `periodic listings were written (${listings.length})`);
});

t.test('a rewind drops the listings and changes after its position and writes the same again', async (t) => {
  const { log } = story(ENTRIES);
  const late = await open(t);
  const cut = Math.floor(log.length / 2);
  // Apply everything, rewind to the middle, apply the tail again: the same rows as in order.
  for (const e of log) late.applyEntries([e]);
  late.applyEntries(log.slice(cut), { rewindTo: cut });
  const ordered = await open(t);
  ordered.applyEntries(log);
  const tree = (s: ProjectionSet): string | undefined => s.digests().find((d) => d.name === 'tree')?.digest;
  t.equal(tree(late), tree(ordered), 'the tree rows, listings included, equal');
  for (const p of [1, cut - 1, cut, cut + 1, log.length]) {
    t.same(late.tree.childrenAt(D, p), ordered.tree.childrenAt(D, p), `children of d at @${p}`);
  }
});

t.test('a batch abandoned midway (its transaction aborted) leaves nothing behind: applied again, the same rows', async (t) => {
  const { log } = story(ENTRIES);
  const cut = Math.floor(log.length / 2);
  const failing = await open(t);
  failing.applyEntries(log.slice(0, cut));
  // Fail at the 30th event of the batch's first entry, after it changed d many times: the
  // entry applied again has the same position, and must not see the abandoned changes.
  const xattrs = failing.xattrs as unknown as { apply: (...a: unknown[]) => void };
  const real = xattrs.apply.bind(failing.xattrs);
  let seen = 0;
  const failAt = 30;
  xattrs.apply = (...a: unknown[]): void => {
    if (++seen === failAt) throw new Error('injected failure');
    real(...a);
  };
  t.throws(() => failing.applyEntries(log.slice(cut)), /injected failure/);
  xattrs.apply = real;
  t.equal(failing.head, cut, 'the head is where the last committed batch left it');
  failing.applyEntries(log.slice(cut));
  const ordered = await open(t);
  ordered.applyEntries(log);
  const tree = (s: ProjectionSet): string | undefined => s.digests().find((d) => d.name === 'tree')?.digest;
  t.equal(tree(failing), tree(ordered), 'the tree rows, dirlog rows and listings included, equal');
  t.same(failing.digests(), ordered.digests(), 'every projection equal');
});
