/**
 * Opening a feed after a crash or damage (log/segment.ts, log/feed.ts): a torn tail is cut back
 * and reported, never served; corruption with whole frames after it is refused with an error
 * naming the feed, the entry and the byte offset, and nothing on disk is changed; bad input
 * (random bytes, truncated files, missing segments) is a clear error, never a crash.
 */
import { mkdir, readdir, readFile, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import {
  Feed,
  FeedSet,
  feedName,
  FRAME_HEADER_BYTES,
  LogError,
  SEGMENT_HEADER_BYTES,
  verifyFeed,
  type Entry,
  type FeedId,
  type Recovery,
} from '../../log/index.js';
import { fakeClock, frameOffsets, norm, seededBytes, signerFor, snapshot, snapshotDiff, tempDir } from './helpers/util.js';

const alice = signerFor('alice');
const id: FeedId = { author: alice.publicKey, area: '' };
const name = feedName(id);
const SEG0 = '0000000000000000.seg';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A feed of `n` entries in a fresh temp dir; returns its directory and the entries. */
async function makeFeed(t: Test, n: number, segmentBytes?: number): Promise<{ dir: string; entries: Entry[] }> {
  const dir = join(await tempDir(t), name);
  const feed = await Feed.open(dir, id, { create: true, signer: alice, clock: fakeClock(), ...(segmentBytes ? { segmentBytes } : {}) });
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) entries.push(await feed.append([{ type: 'note', i, text: `entry number ${i}`.repeat(3) }]));
  await feed.close();
  return { dir, entries };
}

async function openWithRecovery(dir: string, readOnly = false): Promise<{ feed: Feed; recoveries: Recovery[] }> {
  const recoveries: Recovery[] = [];
  const feed = await Feed.open(dir, id, { readOnly, signer: alice, clock: fakeClock(), onRecovery: (r) => recoveries.push(r) });
  return { feed, recoveries };
}

/** Opening must fail with `code`, a message matching `message`, and change no byte. */
async function refusesToOpen(t: Test, dir: string, code: string, message: RegExp, what: string): Promise<void> {
  const before = await snapshot(dir);
  for (const readOnly of [false, true]) {
    const err = await Feed.open(dir, id, { readOnly, signer: alice, clock: fakeClock() }).then(
      async (f) => {
        await f.close();
        return null;
      },
      (e: unknown) => e,
    );
    t.ok(err instanceof LogError, `${what} (${readOnly ? 'read-only' : 'writable'}): a LogError`);
    t.equal((err as LogError | null)?.code, code, `${what}: ${code}`);
    t.match((err as Error | null)?.message ?? '', message, `${what}: the message says where`);
  }
  t.same(snapshotDiff(before, await snapshot(dir)), [], `${what}: no byte on disk changed`);
}

t.test('torn tail: a last frame cut in the middle is cut back and reported', async (t) => {
  const { dir, entries } = await makeFeed(t, 5);
  const path = join(dir, SEG0);
  const whole = await readFile(path);
  const offs = frameOffsets(whole);
  t.equal(offs.length, 5);
  const cutAt = offs[4]!;
  const tornSize = cutAt + FRAME_HEADER_BYTES + 10; // ten bytes into the last record
  await truncate(path, tornSize);

  // Read-only: the prefix is served and the damage reported, but the file is left alone.
  const ro = await openWithRecovery(dir, true);
  t.equal(ro.feed.length, 4, 'read-only: the four whole entries');
  t.equal(ro.recoveries.length, 1, 'read-only: the torn tail is reported');
  await ro.feed.close();
  t.equal((await stat(path)).size, tornSize, 'read-only: the file is not touched');

  const { feed, recoveries } = await openWithRecovery(dir);
  t.equal(recoveries.length, 1, 'one recovery reported');
  t.same(recoveries[0], { feed: name, segment: path, cutAt, bytesCut: tornSize - cutAt, reason: 'incomplete frame' }, 'naming the feed, file, offset and size');
  t.equal(feed.length, 4, 'the torn entry is not served');
  t.equal((await stat(path)).size, cutAt, 'the file is cut back to the last whole frame');
  t.same((await feed.read(0)).map((e) => hex(e.hash)), entries.slice(0, 4).map((e) => hex(e.hash)), 'entries before it are intact');
  t.same(Buffer.from(feed.head!.hash), Buffer.from(entries[3]!.hash));
  const next = await feed.append([{ type: 'note', i: 'after recovery' }]);
  t.equal(next.seq, 4, 'the next append takes the torn entry’s sequence number');
  t.same(Buffer.from(next.prev!), Buffer.from(entries[3]!.hash), 'and chains to the last whole entry');
  t.equal(await verifyFeed(feed), null, 'the feed verifies');
  await feed.close();
  const clean = await openWithRecovery(dir);
  t.equal(clean.recoveries.length, 0, 'a second open finds nothing to recover');
  t.equal(clean.feed.length, 5);
  await clean.feed.close();
});

t.test('torn tail: other shapes of an unfinished last write', async (t) => {
  const cases: Array<[string, (seg: Buffer, offs: number[]) => Buffer, string]> = [
    ['half a frame header', (seg, offs) => seg.subarray(0, offs[4]! + 5), 'incomplete frame'],
    ['a whole header, no payload', (seg, offs) => seg.subarray(0, offs[4]! + FRAME_HEADER_BYTES), 'incomplete frame'],
    ['the last byte missing', (seg) => seg.subarray(0, seg.byteLength - 1), 'incomplete frame'],
    ['zeros after the last frame (preallocated space)', (seg) => Buffer.concat([seg, Buffer.alloc(300)]), 'impossible frame length 0'],
    ['a last frame whose checksum does not match', (seg) => {
      const b = Buffer.from(seg);
      b[b.byteLength - 70] ^= 0xff;
      return b;
    }, 'checksum mismatch'],
  ];
  for (const [what, damage, reason] of cases) {
    const { dir, entries } = await makeFeed(t, 5);
    const path = join(dir, SEG0);
    const seg = await readFile(path);
    const offs = frameOffsets(seg);
    await writeFile(path, damage(seg, offs));
    const { feed, recoveries } = await openWithRecovery(dir);
    const kept = (await stat(path)).size;
    const wholeKept = kept === seg.byteLength ? 5 : 4;
    t.equal(recoveries.length, 1, `${what}: reported`);
    t.equal(recoveries[0]?.reason, reason, `${what}: reason "${reason}"`);
    t.equal(feed.length, wholeKept, `${what}: ${wholeKept} whole entries kept`);
    t.equal(kept, wholeKept === 5 ? seg.byteLength : offs[4]!, `${what}: cut back to the end of entry ${wholeKept - 1}`);
    t.same((await feed.read(0)).map((e) => hex(e.hash)), entries.slice(0, wholeKept).map((e) => hex(e.hash)), `${what}: entries intact`);
    t.equal(await verifyFeed(feed), null, `${what}: verifies`);
    await feed.close();
  }
});

t.test('torn tail in the last of several segments', async (t) => {
  const { dir, entries } = await makeFeed(t, 12, 512);
  const segs = (await readdir(dir)).sort();
  t.ok(segs.length >= 3, `${segs.length} segments`);
  const last = join(dir, segs.at(-1)!);
  const size = (await stat(last)).size;
  await truncate(last, size - 3);
  const { feed, recoveries } = await openWithRecovery(dir);
  t.equal(recoveries.length, 1);
  t.equal(recoveries[0]!.segment, last, 'the recovery names the last segment');
  t.equal(feed.length, 11);
  t.same((await feed.read(0)).map((e) => hex(e.hash)), entries.slice(0, 11).map((e) => hex(e.hash)));
  await feed.close();
});

t.test('corrupt middle: damage with whole frames after it is refused, naming feed, entry and offset', async (t) => {
  const { dir } = await makeFeed(t, 5);
  const path = join(dir, SEG0);
  const seg = await readFile(path);
  const offs = frameOffsets(seg);
  const bad = Buffer.from(seg);
  bad[offs[2]! + FRAME_HEADER_BYTES + 20] ^= 0x40; // inside entry 2's record
  await writeFile(path, bad);
  await refusesToOpen(t, dir, 'CORRUPT_SEGMENT', new RegExp(`feed ${name}, segment ${SEG0}: entry 2 at byte offset ${offs[2]} is corrupt \\(checksum mismatch\\)`), 'a flipped byte in entry 2');

  const len = Buffer.from(seg);
  len.writeUInt32LE(0x00ffffff, offs[1]!); // entry 1's length now runs far past the end
  await writeFile(path, len);
  await refusesToOpen(t, dir, 'CORRUPT_SEGMENT', new RegExp(`entry 1 at byte offset ${offs[1]} is corrupt`), 'a damaged length field in entry 1');

  const zeroed = Buffer.from(seg);
  zeroed.fill(0, offs[0]!, offs[1]!); // a hole where entry 0 was
  await writeFile(path, zeroed);
  await refusesToOpen(t, dir, 'CORRUPT_SEGMENT', new RegExp(`entry 0 at byte offset ${SEGMENT_HEADER_BYTES} is corrupt`), 'a zeroed first frame');
});

t.test('corrupt middle across segments', async (t) => {
  const { dir } = await makeFeed(t, 12, 512);
  const segs = (await readdir(dir)).sort();
  t.ok(segs.length >= 3);
  const first = join(dir, segs[0]!);
  const seg = await readFile(first);
  const offs = frameOffsets(seg);
  // The tail of a segment that is not the last: later segments follow, so it is not a torn tail.
  await writeFile(first, seg.subarray(0, seg.byteLength - 4));
  await refusesToOpen(t, dir, 'CORRUPT_SEGMENT', new RegExp(`segment ${segs[0]}: entry ${offs.length - 1} at byte offset ${offs.at(-1)} is corrupt \\(incomplete frame\\) and later segments follow`), 'a cut non-last segment');
  await writeFile(first, seg);

  const second = join(dir, segs[1]!);
  const secondBytes = await readFile(second);
  await unlink(second);
  await refusesToOpen(t, dir, 'CORRUPT_SEGMENT', new RegExp(`segment ${segs[2]}: expected to start at entry ${Number(segs[1]!.slice(0, 16))}`), 'a missing middle segment');
  await writeFile(second, secondBytes);

  const wrongHeader = Buffer.from(secondBytes);
  wrongHeader.writeBigUInt64LE(999n, 8);
  await writeFile(second, wrongHeader);
  await refusesToOpen(t, dir, 'CORRUPT_SEGMENT', /header says 999/, 'a header that disagrees with the file name');
  await writeFile(second, secondBytes);
  const { feed } = await openWithRecovery(dir, true);
  t.equal(feed.length, 12, 'restored, the feed opens whole again');
  await feed.close();
});

t.test('bad input: random bytes, truncated files, strays', async (t) => {
  const { dir } = await makeFeed(t, 3);
  const path = join(dir, SEG0);
  const good = await readFile(path);

  await writeFile(path, Buffer.from(seededBytes(7)(4096)));
  await refusesToOpen(t, dir, 'NOT_A_SEGMENT', new RegExp(`feed ${name}, segment ${SEG0}: not a Realize segment`), 'a segment of random bytes');
  await writeFile(path, Buffer.alloc(0));
  await refusesToOpen(t, dir, 'NOT_A_SEGMENT', /not a Realize segment/, 'an empty segment file');
  await writeFile(path, good.subarray(0, 10));
  await refusesToOpen(t, dir, 'NOT_A_SEGMENT', /not a Realize segment/, 'a segment truncated inside its header');
  const wrongVersion = Buffer.from(good);
  wrongVersion[7] = 2;
  await writeFile(path, wrongVersion);
  await refusesToOpen(t, dir, 'NOT_A_SEGMENT', /not a Realize segment/, 'a segment of format version 2');

  // A segment of another feed, copied in: every frame is whole, but the entries are not ours.
  const bob = signerFor('bob');
  const bobDir = join(dir, '..', 'bob');
  const bobFeed = await Feed.open(bobDir, { author: bob.publicKey, area: '' }, { create: true, signer: bob, clock: fakeClock() });
  await bobFeed.append(['bob 0']);
  await bobFeed.close();
  await writeFile(path, await readFile(join(bobDir, SEG0)));
  await refusesToOpen(t, dir, 'WRONG_FEED', new RegExp(`feed ${name}: its last entry says it is entry 0 of feed ${feedName({ author: bob.publicKey, area: '' })}`), "Bob's segment in Alice's feed");

  // Truncated to just the header: an empty, valid feed.
  await writeFile(path, good.subarray(0, SEGMENT_HEADER_BYTES));
  const { feed, recoveries } = await openWithRecovery(dir);
  t.equal(feed.length, 0, 'a header alone is an empty feed');
  t.equal(recoveries.length, 0, 'with nothing to recover');
  await feed.close();

  // Files that are not segments are ignored; a directory with no segment at all is an error.
  await writeFile(path, good);
  await writeFile(join(dir, 'notes.txt'), 'hello');
  const withStray = await openWithRecovery(dir, true);
  t.equal(withStray.feed.length, 3, 'a stray non-segment file is ignored');
  await withStray.feed.close();
  const nothing = join(dir, '..', 'nothing');
  await t.rejects(Feed.open(nothing, id, {}), { code: 'IO', message: /cannot read/ }, 'a missing feed directory');
  await writeFile(join(dir, '..', 'a-file'), 'x');
  await t.rejects(Feed.open(join(dir, '..', 'a-file'), id, {}), { code: 'IO' }, 'a file where the feed directory should be');
});

t.test('crash artifacts of feed and segment creation do not make a feed unopenable', async (t) => {
  // The process dies after creating a feed's directory, before its first segment is durable.
  const root = await tempDir(t);
  const feedsDir = join(root, 'feeds');
  await mkdir(join(feedsDir, name), { recursive: true });
  const before = await snapshot(feedsDir);
  const roSet = await FeedSet.open(feedsDir, { readOnly: true, clock: fakeClock() });
  t.equal(roSet.get(name)?.length, 0, 'read-only: the half-created feed opens as an empty feed');
  await roSet.close();
  t.same(snapshotDiff(before, await snapshot(feedsDir)), [], 'read-only: nothing written');
  const set = await FeedSet.open(feedsDir, { signer: alice, clock: fakeClock() });
  const own = await set.own();
  t.equal(own.length, 0, 'writable: the feed is completed, empty');
  t.equal((await own.append(['first'])).seq, 0, 'and takes appends');
  await set.close();

  // The process dies while creating the next segment (rollover): a partial header is left in
  // a temporary file, never under a segment's name.
  const { dir, entries } = await makeFeed(t, 6, 512);
  const segs = (await readdir(dir)).sort();
  const nextFirst = entries.length;
  await writeFile(join(dir, `${String(nextFirst).padStart(16, '0')}.seg.tmp`), Buffer.from('RLZSEG'));
  // segmentBytes 1: every append rolls over, so the next one creates segment 6 itself.
  const feed = await Feed.open(dir, id, { signer: alice, clock: fakeClock(), segmentBytes: 1 });
  t.equal(feed.length, 6, 'a leftover temporary segment is ignored');
  for (let i = 0; i < 6; i++) await feed.append([{ type: 'note', i: 6 + i, text: 'x'.repeat(100) }]);
  t.equal(feed.length, 12);
  await feed.close();
  const after = (await readdir(dir)).sort();
  t.ok(after.length > segs.length, 'later rollovers still create segments');
  t.ok(after.every((n) => /^\d{16}\.seg$/.test(n)), `no temporary file is left behind (${after.join(', ')})`);
  const again = await openWithRecovery(dir, true);
  t.equal(again.feed.length, 12);
  t.same(norm((await again.feed.get(11)).events), [{ type: 'note', i: 11, text: 'x'.repeat(100) }]);
  t.equal(await verifyFeed(again.feed), null);
  await again.feed.close();
});
