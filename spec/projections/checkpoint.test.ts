/**
 * Checkpoints and the head position (checkpoint.ts, positions.ts): a batch of entries writes
 * each feed's checkpoint row and the head row once, at its end, in the transaction that
 * applied the entries; what is on disk after the batch (reopened) is its last entry, and a
 * batch that fails leaves the rows of the batch before it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { feedName, toHex, type Entry, type FsEvent } from '../../log/index.js';
import { ProjectionSet } from '../../projections/index.js';
import { nid } from '../engine/helpers/given.js';
import { feedOf } from './helpers/feeds.js';

const R = nid(1);
const o = { uid: 0, gid: 0 };

function entries(count: number): Entry[] {
  const feed = feedOf(5);
  const log: Entry[] = [feed(0, 100, [{ type: 'area-create', area: 'home', root: R, mode: 0o755, ...o, time: 100 }], null)];
  for (let s = 1; s < count; s++) {
    const events: FsEvent[] = [{ type: 'create', id: nid(0x100 + s), parent: R, name: `f${s}`, mode: 0o644, ...o, time: 100 + s }];
    log.push(feed(s, 100 + s, events, log.at(-1)!));
  }
  return log;
}

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-checkpoint-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('after a batch, the checkpoint and head on disk are its last entry', async (t) => {
  const log = entries(12);
  const dir = await scratch(t);
  const set = ProjectionSet.open(dir);
  set.applyEntries(log.slice(0, 5));
  set.applyEntries(log.slice(5));
  const name = feedName(log[0]!);
  t.equal(set.position(name)?.length, 12);
  await set.close();
  const again = ProjectionSet.open(dir);
  t.teardown(() => again.close());
  t.equal(again.head, 12, 'the head row says 12 entries applied');
  t.equal(again.position(name)?.length, 12, 'the checkpoint row says 12');
  t.equal(toHex(again.position(name)!.hash), toHex(log[11]!.hash), 'and names the last entry');
  t.equal(again.applyEntries(log), 0, 'applying the entries again changes nothing');
});

t.test('a batch that fails leaves the checkpoint and head of the batch before it, in memory and on disk', async (t) => {
  const log = entries(10);
  const dir = await scratch(t);
  const set = ProjectionSet.open(dir);
  set.applyEntries(log.slice(0, 4));
  const tree = set.tree as unknown as { apply: (...a: unknown[]) => void };
  const real = tree.apply.bind(set.tree);
  let seen = 0;
  tree.apply = (...a: unknown[]): void => {
    if (++seen === 3) throw new Error('injected failure');
    real(...a);
  };
  t.throws(() => set.applyEntries(log.slice(4)), /injected failure/);
  tree.apply = real;
  const name = feedName(log[0]!);
  t.equal(set.head, 4);
  t.equal(set.position(name)?.length, 4);
  await set.close();
  const again = ProjectionSet.open(dir);
  t.teardown(() => again.close());
  t.equal(again.head, 4, 'on disk: the head of the last committed batch');
  t.equal(again.position(name)?.length, 4);
  t.equal(toHex(again.position(name)!.hash), toHex(log[3]!.hash));
  t.equal(again.applyEntries(log), 6, 'the rest applies');
  t.equal(again.head, 10);
});
