/**
 * verifyFeed (log/verify.ts): damage that the frame checksums cannot see (the checksum was
 * recomputed, as a forger would) is found by the signature, chain and sequence checks, and
 * the first bad entry is named with its segment and byte offset.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { createEntry, encodeFrame, encodeRecord, Feed, feedName, SEGMENT_HEADER_BYTES, verifyFeed, type Entry, type FeedId } from '../../log/index.js';
import { fakeClock, fixFrameCrc, frameOffsets, signerFor, tempDir } from './helpers/util.js';

const alice = signerFor('alice');
const id: FeedId = { author: alice.publicKey, area: 'docs' };
const SEG0 = '0000000000000000.seg';

async function makeFeed(t: Test, n: number): Promise<{ dir: string; entries: Entry[]; seg: Buffer; offs: number[] }> {
  const dir = join(await tempDir(t), feedName(id));
  const feed = await Feed.open(dir, id, { create: true, signer: alice, clock: fakeClock() });
  const entries: Entry[] = [];
  for (let i = 0; i < n; i++) entries.push(await feed.append([{ type: 'note', text: `entry ${i} text` }]));
  await feed.close();
  const seg = await readFile(join(dir, SEG0));
  return { dir, entries, seg, offs: frameOffsets(seg) };
}

async function verifyDir(dir: string): Promise<Awaited<ReturnType<typeof verifyFeed>>> {
  const feed = await Feed.open(dir, id, { readOnly: true });
  try {
    return await verifyFeed(feed);
  } finally {
    await feed.close();
  }
}

t.test('a healthy feed verifies, with progress', async (t) => {
  const { dir } = await makeFeed(t, 5);
  const feed = await Feed.open(dir, id, { readOnly: true });
  const progress: number[] = [];
  t.equal(await verifyFeed(feed, (n) => progress.push(n)), null);
  t.same(progress, [5], 'progress reports the entries done');
  await feed.close();
});

t.test('a changed byte with a recomputed checksum: BAD_SIGNATURE at that entry', async (t) => {
  const { dir, seg, offs } = await makeFeed(t, 5);
  const bad = Buffer.from(seg);
  const at = bad.indexOf(Buffer.from('entry 2 text'));
  t.ok(at > offs[2]! && at < offs[3]!, 'the text of entry 2 is inside frame 2');
  bad[at + 6] = '7'.charCodeAt(0);
  fixFrameCrc(bad, offs[2]!);
  await writeFile(join(dir, SEG0), bad);
  const p = await verifyDir(dir);
  t.match(p, { feed: feedName(id), seq: 2, segment: join(dir, SEG0), offset: offs[2], code: 'BAD_SIGNATURE' }, 'entry 2 is named, with file and offset');
  t.match(p?.message, /entry 2 .* bad signature/);
});

t.test('a changed signature byte with a recomputed checksum', async (t) => {
  const { dir, seg, offs } = await makeFeed(t, 5);
  const bad = Buffer.from(seg);
  bad[offs[4]! - 1] ^= 0x01; // the last byte of frame 3 is the last byte of its signature
  fixFrameCrc(bad, offs[3]!);
  await writeFile(join(dir, SEG0), bad);
  t.match(await verifyDir(dir), { seq: 3, offset: offs[3], code: 'BAD_SIGNATURE' });
});

t.test('reordered frames on disk', async (t) => {
  const { dir, seg, offs } = await makeFeed(t, 5);
  const frames = offs.map((o, i) => seg.subarray(o, offs[i + 1] ?? seg.byteLength));
  const swapped = Buffer.concat([seg.subarray(0, SEGMENT_HEADER_BYTES), frames[0]!, frames[2]!, frames[1]!, frames[3]!, frames[4]!]);
  await writeFile(join(dir, SEG0), swapped);
  t.match(await verifyDir(dir), { seq: 1, offset: offs[1], code: 'GAP' }, 'position 1 holds entry 2: a gap');
  const repeated = Buffer.concat([seg.subarray(0, SEGMENT_HEADER_BYTES), frames[0]!, frames[1]!, frames[1]!, frames[3]!, frames[4]!]);
  await writeFile(join(dir, SEG0), repeated);
  t.match(await verifyDir(dir), { seq: 2, code: 'BAD_SEQUENCE' }, 'position 2 holds entry 1 again: a bad sequence');
});

t.test('a validly signed entry that does not chain', async (t) => {
  const { dir, seg, offs, entries } = await makeFeed(t, 5);
  const imposter = createEntry({ ...entries[3]!, prev: entries[1]!.hash }, alice);
  const spliced = Buffer.concat([seg.subarray(0, offs[3]!), encodeFrame(encodeRecord(imposter)), seg.subarray(offs[4]!)]);
  await writeFile(join(dir, SEG0), spliced);
  t.match(await verifyDir(dir), { seq: 3, offset: offs[3], code: 'BAD_CHAIN' });
});

t.test('a frame whose record is not an entry', async (t) => {
  const { dir, seg, offs } = await makeFeed(t, 3);
  const spliced = Buffer.concat([seg.subarray(0, offs[1]!), encodeFrame(Buffer.alloc(100, 0xff)), seg.subarray(offs[2]!)]);
  await writeFile(join(dir, SEG0), spliced);
  t.match(await verifyDir(dir), { seq: 1, offset: offs[1], code: 'MALFORMED_ENTRY' });
});

t.test('a long feed is checked in parallel: a forged signature deep inside is still the one named', async (t) => {
  const n = 5000;
  const dir = join(await tempDir(t), feedName(id));
  const feed = await Feed.open(dir, id, { create: true, signer: alice, clock: fakeClock() });
  await Promise.all(Array.from({ length: n }, (_, i) => feed.append([{ type: 'note', text: `entry ${i}` }])));
  await feed.close();
  t.equal(await verifyDir(dir), null, 'the whole feed verifies through the worker pool');
  const seg = await readFile(join(dir, SEG0));
  const offs = frameOffsets(seg);
  for (const victim of [4321, 2500]) {
    const copy = Buffer.from(seg);
    const frame = offs[victim]!;
    const len = copy.readUInt32LE(frame);
    copy[frame + 8 + len - 1] ^= 0x01; // the last byte of the signature
    fixFrameCrc(copy, frame);
    await writeFile(join(dir, SEG0), copy);
    const problem = await verifyDir(dir);
    t.equal(problem?.seq, victim, `entry ${victim} is named`);
    t.equal(problem?.code, 'BAD_SIGNATURE');
    t.equal(problem?.offset, frame, 'with its byte offset');
  }
  await writeFile(join(dir, SEG0), seg);
});
