/**
 * The Feed (log/feed.ts): append/read/reopen round trip, group commit, the live tail,
 * segment rollover and read-only opens.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import {
  decodeSegmentHeader,
  Feed,
  LogError,
  SEGMENT_HEADER_BYTES,
  verifyEntry,
  verifyFeed,
  type Entry,
  type FeedId,
} from '../../log/index.js';
import { fakeClock, frameOffsets, norm, signerFor, snapshot, snapshotDiff, tempDir } from './helpers/util.js';

const alice = signerFor('alice');
const id: FeedId = { author: alice.publicKey, area: '' };

async function ownFeed(dir: string, extra: Parameters<typeof Feed.open>[2] = {}): Promise<Feed> {
  return Feed.open(dir, id, { create: true, signer: alice, clock: fakeClock(), ...extra });
}

t.test('append, read, reopen', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const feed = await ownFeed(dir);
  t.equal(feed.length, 0);
  t.equal(feed.head, null);
  const appended: Entry[] = [];
  for (let i = 0; i < 10; i++) {
    appended.push(await feed.append([{ type: 'note', i, big: 2 ** 40 + i, neg: -i, bytes: new Uint8Array([i]) }], i > 0 ? [['x'.repeat(64), i]] : []));
  }
  t.same(appended.map((e) => e.seq), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'sequence numbers count from 0');
  for (let i = 1; i < 10; i++) t.same(Buffer.from(appended[i]!.prev!), Buffer.from(appended[i - 1]!.hash), `entry ${i} chains to ${i - 1}`);
  t.ok(appended.every((e, i) => i === 0 || e.hlc > appended[i - 1]!.hlc), 'timestamps increase');
  t.equal(feed.length, 10);
  t.equal(feed.head!.seq, 9);
  const read = await feed.read(0);
  t.same(read.map((e) => Buffer.from(e.hash).toString('hex')), appended.map((e) => Buffer.from(e.hash).toString('hex')), 'read returns what was appended');
  t.same(norm(read[3]!.events), norm([{ type: 'note', i: 3, big: 2 ** 40 + 3, neg: -3, bytes: new Uint8Array([3]) }]));
  t.same((await feed.read(4, 6)).map((e) => e.seq), [4, 5], 'a range');
  t.same((await feed.read(8, 100)).map((e) => e.seq), [8, 9], 'a range past the end stops at the end');
  t.equal((await feed.get(7)).seq, 7);
  await t.rejects(feed.get(10), { code: 'BAD_SEQUENCE' }, 'no entry 10 yet');
  t.equal(feed.location(0).offset, SEGMENT_HEADER_BYTES, 'entry 0 sits right after the segment header');
  await feed.close();
  await t.rejects(feed.append([1]), { code: 'CLOSED' }, 'a closed feed refuses appends');
  await t.rejects(feed.read(0), { code: 'CLOSED' }, 'and reads');

  const clock = fakeClock(1_600_000_000_000); // a wall clock behind the feed's timestamps
  const again = await Feed.open(dir, id, { signer: alice, clock });
  t.equal(again.length, 10, 'reopened: all 10 entries');
  t.same(Buffer.from(again.head!.hash), Buffer.from(appended[9]!.hash), 'the head is the last entry');
  t.ok(clock.last >= appended[9]!.hlc, 'opening folds the last timestamp into the clock');
  const e10 = await again.append([{ type: 'note', i: 10 }]);
  t.equal(e10.seq, 10);
  t.same(Buffer.from(e10.prev!), Buffer.from(appended[9]!.hash), 'the next append chains across the reopen');
  t.ok(e10.hlc > appended[9]!.hlc, 'and its timestamp is later, although the wall clock is behind');
  t.equal(await verifyFeed(again), null, 'the whole feed verifies');
  await again.close();
  await again.close();
  t.pass('close is idempotent');
});

t.test('only the owner appends', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const noSigner = await Feed.open(dir, id, { create: true, clock: fakeClock() });
  await t.rejects(noSigner.append([1]), { code: 'WRONG_FEED' }, 'no signer: not the owner');
  await noSigner.close();
  const wrong = await Feed.open(dir, id, { signer: signerFor('bob'), clock: fakeClock() });
  await t.rejects(wrong.append([1]), { code: 'WRONG_FEED' }, "Bob cannot append to Alice's feed");
  const feed = await ownFeed(dir);
  await t.rejects(feed.append([]), { code: 'MALFORMED_ENTRY' }, 'an entry needs at least one event');
  await t.rejects(feed.append([1.5]), { code: 'MALFORMED_ENTRY' }, 'a float is refused');
  const ok = await feed.append(['fine']);
  t.equal(ok.seq, 0, 'a refused append takes no sequence number');
  await feed.close();
  await wrong.close();
});

t.test('group commit: concurrent appends share writes and fsyncs', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const feed = await ownFeed(dir);
  // Count every datasync and write made through a FileHandle, by wrapping the prototype.
  const probe = await open(join(dir, '0000000000000000.seg'), 'r');
  const proto = Object.getPrototypeOf(probe) as { datasync: () => Promise<void>; write: (...a: unknown[]) => Promise<unknown> };
  await probe.close();
  const realSync = proto.datasync;
  const realWrite = proto.write;
  let syncs = 0;
  let writes = 0;
  proto.datasync = function (this: unknown) {
    syncs++;
    return realSync.call(this);
  };
  proto.write = function (this: unknown, ...a: unknown[]) {
    writes++;
    return realWrite.apply(this, a);
  };
  t.teardown(() => {
    proto.datasync = realSync;
    proto.write = realWrite;
  });

  // One at a time: one write and one fsync per append (so the counters do count).
  for (let i = 0; i < 5; i++) await feed.append([{ i }]);
  t.equal(syncs, 5, 'five awaited appends: five fsyncs');
  t.equal(writes, 5, 'and five writes');

  syncs = 0;
  writes = 0;
  const N = 500;
  const resolvedAt: number[] = [];
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const all = await Promise.all(
    Array.from({ length: N }, (_, i) =>
      feed.append([{ i, pad: 'x'.repeat(i % 50) }]).then((e) => {
        resolvedAt.push(ticks);
        return e;
      }),
    ),
  );
  clearInterval(timer);
  t.same(all.map((e) => e.seq), Array.from({ length: N }, (_, i) => 5 + i), 'each append got the next sequence number, in call order');
  t.ok(syncs >= 1 && syncs <= 5, `${N} concurrent appends took ${syncs} fsyncs`);
  t.ok(writes <= 5, `and ${writes} writes`);
  t.ok(new Set(resolvedAt).size <= syncs, 'appends resolve in batches, one per fsync');
  t.equal(feed.length, 5 + N);
  await feed.close();
  const again = await Feed.open(dir, id, { readOnly: true });
  t.equal(again.length, 5 + N, 'all of them are on disk');
  t.same(norm((await again.get(5 + 123)).events), [{ i: 123, pad: 'x'.repeat(123 % 50) }]);
  t.equal(await verifyFeed(again), null);
  await again.close();
});

t.test('stage: the hash is final at once, the signature is made by the writer before the entry is durable', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const feed = await ownFeed(dir);
  const staged = [0, 1, 2].map((i) => feed.stage([{ type: 'note', i }]));
  const hashes = staged.map((s) => Buffer.from(s.entry.hash).toString('hex'));
  t.same(Buffer.from(staged[1]!.entry.prev!).toString('hex'), hashes[0], 'the chain links by hash before any signature exists');
  const durable = await Promise.all(staged.map((s) => s.durable));
  for (const e of durable) t.doesNotThrow(() => verifyEntry(e), `entry ${e.seq} carries its author's signature once durable`);
  t.same(durable.map((e) => Buffer.from(e.hash).toString('hex')), hashes, 'signing changed no hash');
  const read = await feed.read(0);
  for (const e of read) t.doesNotThrow(() => verifyEntry(e), `entry ${e.seq} as read back from disk verifies`);
  t.same(read.map((e) => Buffer.from(e.signature).toString('hex')), durable.map((e) => Buffer.from(e.signature).toString('hex')), 'the signatures on disk are the ones made');
  await feed.close();
});

t.test('close waits for queued appends', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const feed = await ownFeed(dir);
  const pending = Array.from({ length: 20 }, (_, i) => feed.append([i]));
  await feed.close();
  const done = await Promise.all(pending);
  t.equal(done.length, 20, 'every append queued before close resolved');
  const again = await Feed.open(dir, id, { readOnly: true });
  t.equal(again.length, 20);
  await again.close();
});

t.test('live tail yields existing entries, then each new one as it becomes durable', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const feed = await ownFeed(dir);
  await feed.append(['before-0']);
  await feed.append(['before-1']);
  const ac = new AbortController();
  const seen: Array<[number, unknown]> = [];
  const reader = (async () => {
    for await (const e of feed.live(0, ac.signal)) {
      seen.push([e.seq, e.events[0]]);
      t.ok(e.seq < feed.length, `entry ${e.seq} is yielded only once it is durable`);
      if (e.seq === 5) ac.abort();
    }
  })();
  const fromTwo: number[] = [];
  const ac2 = new AbortController();
  const reader2 = (async () => {
    for await (const e of feed.live(2, ac2.signal)) {
      fromTwo.push(e.seq);
      if (e.seq === 3) ac2.abort();
    }
  })();
  // Let the tails read what is there (bounded: a loaded machine may take a while).
  for (let i = 0; i < 500 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(seen.map((s) => s[0]), [0, 1], 'the existing entries first');
  await feed.append(['after-2']);
  await Promise.all([feed.append(['after-3']), feed.append(['after-4']), feed.append(['after-5'])]);
  await reader;
  await reader2;
  t.same(seen, [[0, 'before-0'], [1, 'before-1'], [2, 'after-2'], [3, 'after-3'], [4, 'after-4'], [5, 'after-5']], 'then each appended entry, in order');
  t.same(fromTwo, [2, 3], 'a tail can start in the middle');
  // A tail still waiting when the feed closes ends cleanly.
  const waiting = (async () => {
    const got: number[] = [];
    for await (const e of feed.live(feed.length)) got.push(e.seq);
    return got;
  })();
  await new Promise((r) => setTimeout(r, 10));
  await feed.close();
  t.same(await waiting, [], 'closing the feed ends a waiting tail');
});

t.test('segment rollover', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const feed = await ownFeed(dir, { segmentBytes: 1024 });
  const big = 'y'.repeat(200);
  for (let i = 0; i < 20; i++) await feed.append([{ i, big }]);
  // A batch larger than a whole segment still goes in (into a fresh segment of its own).
  await Promise.all(Array.from({ length: 8 }, (_, i) => feed.append([{ i: 20 + i, big }])));
  await feed.close();
  const names = (await readdir(dir)).sort();
  t.ok(names.length > 3, `${names.length} segments`);
  t.ok(names.every((n) => /^\d{16}\.seg$/.test(n)), 'every file is a 16-digit first-sequence-number .seg');
  let expect = 0;
  for (const name of names) {
    const bytes = await readFile(join(dir, name));
    const first = decodeSegmentHeader(bytes);
    t.equal(first, Number(name.slice(0, 16)), `${name}: its header names the same first entry`);
    t.equal(first, expect, `${name} continues where the previous segment stopped`);
    const frames = frameOffsets(bytes).length;
    t.ok(frames > 0, `${name} holds ${frames} entries`);
    if (name !== names.at(-1)) t.ok(bytes.byteLength <= 1024, `${name} keeps to the 1024-byte limit (${bytes.byteLength})`);
    else {
      t.equal(frames, 8, 'the last segment holds exactly the 8-entry batch');
      t.ok(bytes.byteLength > 1024, 'which is larger than the limit: a batch is never split');
    }
    expect += frames;
  }
  t.equal(expect, 28, 'the segments hold all 28 entries');
  const again = await Feed.open(dir, id, { signer: alice, clock: fakeClock(), segmentBytes: 1024 });
  t.equal(again.length, 28);
  t.same((await again.read(0)).map((e) => (e.events[0] as { i: number }).i), Array.from({ length: 28 }, (_, i) => i), 'reads cross segment boundaries');
  t.match(again.location(27).segment, /\d{16}\.seg$/);
  t.not(again.location(0).segment, again.location(27).segment, 'first and last entries are in different segments');
  t.equal(await verifyFeed(again), null);
  const e = await again.append([{ i: 28 }]);
  t.equal(e.seq, 28, 'appending continues after reopening a multi-segment feed');
  await again.close();
});

t.test('read-only open', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const feed = await ownFeed(dir);
  for (let i = 0; i < 3; i++) await feed.append([i]);
  await feed.close();
  const before = await snapshot(dir);
  const ro = await Feed.open(dir, id, { readOnly: true, signer: alice, clock: fakeClock() });
  t.equal(ro.writable, false);
  t.equal(ro.length, 3);
  t.same((await ro.read(0)).map((e) => e.events[0]), [0, 1, 2]);
  await t.rejects(ro.append([3]), { code: 'READ_ONLY' }, 'append is refused');
  await t.rejects(ro.appendVerified([]), { code: 'READ_ONLY' }, 'appendVerified is refused');
  await ro.close();
  t.same(snapshotDiff(before, await snapshot(dir)), [], 'nothing on disk changed');
  const missing = join(dir, '..', 'nothing-here');
  await t.rejects(Feed.open(missing, id, { readOnly: true }), LogError, 'a missing feed is an error');
  await t.rejects(Feed.open(missing, id, { readOnly: true, create: true }), { code: 'READ_ONLY' }, 'read-only cannot create');
  t.equal(await stat(missing).catch(() => null), null, 'and did not create the directory');
});

t.test('a read-only feed follows the writer: refresh picks up whole frames and new segments, get waits for an entry being committed', async (t) => {
  const dir = join(await tempDir(t), 'feed');
  const writer = await ownFeed(dir, { segmentBytes: 600 });
  for (let i = 0; i < 3; i++) await writer.append([{ i, pad: 'x'.repeat(100) }]);
  const ro = await Feed.open(dir, id, { readOnly: true });
  t.equal(ro.length, 3);
  for (let i = 3; i < 12; i++) await writer.append([{ i, pad: 'x'.repeat(100) }]);
  t.ok((await readdir(dir)).filter((n) => !n.endsWith('.tmp')).length > 1, 'the writer rolled over to new segments');
  t.equal(await ro.refresh(), 12, 'refresh finds the appended entries, across segments');
  t.same((await ro.read(0)).map((e) => (e.events[0] as { i: number }).i), [...Array(12).keys()]);
  t.equal(await ro.refresh(), 12, 'a second refresh finds nothing new and double-counts nothing');

  // Half a frame on disk (a write in progress) is not an entry yet.
  const last = (await readdir(dir)).filter((n) => !n.endsWith('.tmp')).sort().at(-1)!;
  const fh = await open(join(dir, last), 'a');
  await fh.write(Buffer.from([40, 0, 0, 0, 1, 2]));
  await fh.close();
  t.equal(await ro.refresh(), 12, 'an incomplete frame is left for later');
  await writer.close();

  const w2 = await ownFeed(join(dir, '..', 'feed2'));
  await w2.append(['a']);
  const ro2 = await Feed.open(join(dir, '..', 'feed2'), id, { readOnly: true });
  const pending = ro2.get(1);
  setTimeout(() => void w2.append(['b']), 50);
  t.same((await pending).events, ['b'], 'get of the next entry waits for the writer to commit it');
  await t.rejects(ro2.get(5), { code: 'BAD_SEQUENCE' }, 'an entry that never comes is still an error');
  await w2.close();
  await ro2.close();
  await ro.close();
});
