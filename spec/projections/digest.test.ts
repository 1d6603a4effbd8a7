/**
 * The projections' digests (what `realize log replay --check` compares) are of the rows'
 * stored bytes, read raw: rows held in memory for local entries are written first, a stored
 * byte that differs changes the digest of its projection alone, and a rebuild of the same
 * entries gives the same digests.
 */
import t from 'tap';
import { encodeRecord, type Entry, type FsEvent } from '../../log/index.js';
import { rebuild } from '../../projections/index.js';
import { nid } from '../engine/helpers/given.js';
import { feedOf, openProjections } from './helpers/feeds.js';

const R = nid(1);
const o = { uid: 0, gid: 0 };

function entries(): Entry[] {
  const feed = feedOf(7);
  const log: Entry[] = [feed(0, 100, [{ type: 'area-create', area: 'home', root: R, mode: 0o755, ...o, time: 100 }], null)];
  for (let s = 1; s <= 3; s++) {
    const events: FsEvent[] = [{ type: 'create', id: nid(0x100 + s), parent: R, name: `f${s}`, mode: 0o644, ...o, time: 100 + s }];
    log.push(feed(s, 100 + s, events, log[s - 1]!));
  }
  return log;
}

t.test('rows held for local entries are in the digests', async (t) => {
  const log = entries();
  const set = await openProjections(t, 'digest-held');
  set.holdMs = 60_000;
  set.applyEntries(log.slice(0, 3));
  const before = set.digests();
  set.applyLocal([log[3]!]);
  t.equal(set.heldEntries, 1, 'the entry is held, not yet written');
  const held = set.digests();
  t.equal(set.heldEntries, 0, 'digests wrote the held rows first');
  t.not(held.find((d) => d.name === 'tree')!.digest, before.find((d) => d.name === 'tree')!.digest, 'the held entry changed the tree digest');

  const other = await openProjections(t, 'digest-held-rebuilt');
  other.applyEntries(log);
  t.same(other.digests(), held, 'the same as the four entries applied in one transaction');
});

t.test('a stored byte that differs changes its projection digest alone', async (t) => {
  const set = await openProjections(t, 'digest-bytes');
  set.applyEntries(entries());
  const before = set.digests();
  // A row of the famfs projection written by hand, around the projections' own code.
  const [name, db] = set.famfs.dbs[0]!;
  const raw = set.env.openDB<Uint8Array, Uint8Array>({ name: (db as unknown as { name: string }).name, encoding: 'binary', keyEncoding: 'binary' });
  raw.putSync(Buffer.from('spec-key'), Buffer.from([1, 2, 3]));
  const after = set.digests();
  for (const d of after) {
    const was = before.find((b) => b.name === d.name)!.digest;
    if (d.name === 'famfs') t.not(d.digest, was, `famfs (${name}) differs`);
    else t.equal(d.digest, was, `${d.name} is the same`);
  }
  raw.putSync(Buffer.from('spec-key'), Buffer.from([1, 2, 4]));
  t.not(set.digests().find((d) => d.name === 'famfs')!.digest, after.find((d) => d.name === 'famfs')!.digest, 'one byte of the value changed: the digest too');
});

t.test('a rebuild into another place gives the same digests, byte for byte', async (t) => {
  const log = entries();
  const live = await openProjections(t, 'digest-live');
  for (const e of log) live.applyEntries([e]);
  const scratch = await openProjections(t, 'digest-scratch');
  const feed = { name: 'f', length: log.length, readRecords: async (from: number, to: number) => log.slice(from, to).map(encodeRecord) };
  const feeds = { list: () => [feed] } as never;
  t.equal(await rebuild(scratch, feeds, undefined, { undo: false }), log.length);
  t.same(scratch.digests(), live.digests());
});
