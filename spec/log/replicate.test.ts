/**
 * Replicas grow only through Feed.appendVerified, which refuses (all or nothing) anything
 * whose signature, chain or sequence does not verify, or that forks or belongs elsewhere.
 */
import { join } from 'node:path';
import t, { type Test as Tap } from 'tap';
import { createEntry, encodeRecord, Feed, FeedSet, verifyFeed, type Entry, type FeedId } from '../../log/index.js';
import { chain, fakeClock, signerFor, snapshot, snapshotDiff, tempDir } from './helpers/util.js';

const alice = signerFor('alice');
const bob = signerFor('bob');
const id: FeedId = { author: alice.publicKey, area: '' };
const entries = chain(alice, 8);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function replica(t: Parameters<typeof tempDir>[0], held = 0): Promise<{ feed: Feed; dir: string }> {
  const dir = join(await tempDir(t), 'replica');
  const feed = await Feed.open(dir, id, { create: true, clock: fakeClock() });
  if (held > 0) await feed.appendVerified(entries.slice(0, held));
  return { feed, dir };
}

/** Expects appendVerified(input) to fail with `code` and to leave the replica exactly as it was. */
async function refuses(t: Tap, feed: Feed, dir: string, input: Array<Entry | Uint8Array>, code: string, what: string): Promise<void> {
  const length = feed.length;
  const head = feed.head === null ? null : hex(feed.head.hash);
  const before = await snapshot(dir);
  await t.rejects(feed.appendVerified(input), { name: 'LogError', code }, what);
  t.equal(feed.length, length, `${what}: length unchanged`);
  t.equal(feed.head === null ? null : hex(feed.head.hash), head, `${what}: head unchanged`);
  t.same(snapshotDiff(before, await snapshot(dir)), [], `${what}: no byte on disk changed`);
}

t.test('a valid chain is accepted, as entries or as raw records; re-delivery is a no-op', async (t) => {
  const { feed, dir } = await replica(t);
  t.equal(await feed.appendVerified(entries.slice(0, 3)), 3);
  t.equal(await feed.appendVerified(entries.slice(3, 6).map((e) => encodeRecord(e))), 3, 'raw records are decoded and verified');
  t.equal(await feed.appendVerified(entries.slice(0, 6)), 0, 'entries already held are skipped');
  t.equal(await feed.appendVerified(entries.slice(4, 8)), 2, 'an overlapping batch adds only what is new');
  t.equal(feed.length, 8);
  await feed.close();
  const again = await Feed.open(dir, id, { readOnly: true });
  t.same((await again.read(0)).map((e) => hex(e.hash)), entries.map((e) => hex(e.hash)), 'the replica holds the same entries');
  t.equal(await verifyFeed(again), null);
  await again.close();
});

t.test('BAD_SIGNATURE: forged or damaged entries', async (t) => {
  const { feed, dir } = await replica(t, 2);
  const e2 = entries[2]!;
  await refuses(t, feed, dir, [{ ...e2, signature: bob.sign(e2.hash) }], 'BAD_SIGNATURE', "an entry of Alice's signed by Bob");
  await refuses(t, feed, dir, [{ ...e2, signature: new Uint8Array(64) }], 'BAD_SIGNATURE', 'a zero signature');
  const record = encodeRecord(e2);
  const at = record.indexOf(Buffer.from('entry 2'));
  record[at + 6] = '9'.charCodeAt(0);
  await refuses(t, feed, dir, [record], 'BAD_SIGNATURE', 'a record with one byte of its body changed');
  await refuses(t, feed, dir, [entries[2]!, entries[3]!, { ...entries[4]!, signature: entries[3]!.signature }], 'BAD_SIGNATURE', 'a bad signature at the end of a batch: nothing of the batch is kept');
});

t.test('BAD_CHAIN: the right sequence number, the wrong previous hash', async (t) => {
  const { feed, dir } = await replica(t, 2);
  const e2 = entries[2]!;
  const unchained = createEntry({ ...e2, prev: new Uint8Array(32).fill(1) }, alice);
  await refuses(t, feed, dir, [unchained], 'BAD_CHAIN', 'prev is not the hash of entry 1');
  const toZero = createEntry({ ...e2, prev: entries[0]!.hash }, alice);
  await refuses(t, feed, dir, [toZero], 'BAD_CHAIN', 'prev is the hash of entry 0');
});

t.test('GAP and BAD_SEQUENCE: missing and reordered entries', async (t) => {
  const { feed, dir } = await replica(t, 2);
  await refuses(t, feed, dir, [entries[3]!], 'GAP', 'entry 3 without entry 2');
  await refuses(t, feed, dir, [entries[3]!, entries[2]!], 'GAP', 'entries 3 and 2 reordered');
  await refuses(t, feed, dir, [entries[2]!, entries[4]!, entries[3]!], 'GAP', 'entries 2, 4, 3');
  await refuses(t, feed, dir, [entries[2]!, entries[3]!, entries[2]!], 'BAD_SEQUENCE', 'entry 2 repeated after 3');
  await refuses(t, feed, dir, [entries[2]!, entries[3]!, entries[1]!], 'BAD_SEQUENCE', 'an old entry after new ones');
  const empty = await replica(t);
  await refuses(t, empty.feed, empty.dir, [entries[1]!], 'GAP', 'an empty replica must start at entry 0');
  t.equal(await feed.appendVerified([entries[2]!, entries[3]!]), 2, 'the right order is then accepted');
  await feed.close();
  await empty.feed.close();
});

t.test('FORK: a different entry for a sequence number already held', async (t) => {
  const { feed, dir } = await replica(t, 3);
  const fork1 = createEntry({ ...entries[1]!, events: [{ type: 'note', text: 'the other history' }] }, alice);
  const fork2 = createEntry({ ...entries[2]!, prev: fork1.hash }, alice);
  await refuses(t, feed, dir, [fork1], 'FORK', 'a second entry 1 signed by the author');
  await refuses(t, feed, dir, [fork1, fork2], 'FORK', 'a forked branch');
  await refuses(t, feed, dir, [entries[0]!, fork1], 'FORK', 'a fork behind a held entry');
  await refuses(t, feed, dir, [{ ...fork1, signature: new Uint8Array(64) }], 'BAD_SIGNATURE', 'an unsigned "fork" is just a bad signature, not proof of a fork');
});

t.test('WRONG_FEED: entries of another feed', async (t) => {
  const { feed, dir } = await replica(t, 3);
  const [b0, b1, b2, b3] = chain(bob, 4);
  await refuses(t, feed, dir, [b3!], 'WRONG_FEED', "Bob's entry 3 (the next sequence number)");
  await refuses(t, feed, dir, [b1!], 'WRONG_FEED', "Bob's entry 1 (a sequence number Alice's feed already holds)");
  await refuses(t, feed, dir, [b0!, b1!, b2!], 'WRONG_FEED', "Bob's whole feed");
  const photos = chain(alice, 4, { area: 'photos' });
  await refuses(t, feed, dir, [photos[3]!], 'WRONG_FEED', "Alice's photos entry 3");
  await refuses(t, feed, dir, [photos[0]!], 'WRONG_FEED', "Alice's photos entry 0");
  const set = await FeedSet.open(join(dir, '..', 'feeds'), { clock: fakeClock(), signer: alice });
  await t.rejects(set.replica({ author: alice.publicKey, area: '' }), { code: 'WRONG_FEED' }, 'a peer never replicates into its own feed');
  await set.close();
  await feed.close();
});

t.test('concurrent appendVerified calls are serialised', async (t) => {
  const { feed, dir } = await replica(t, 1);
  // Both batches start with a held entry, so both have to read it back before writing.
  const results = await Promise.all([
    feed.appendVerified(entries.slice(0, 3)),
    feed.appendVerified(entries.slice(0, 4)),
    feed.appendVerified(entries.slice(0, 6)),
  ]);
  t.equal(results.reduce((a, b) => a + b, 0), 5, `entries 1-5 were added exactly once between them (${results.join(' + ')})`);
  t.equal(feed.length, 6);
  t.same((await feed.read(0)).map((e) => e.seq), [0, 1, 2, 3, 4, 5], 'in memory: each entry once, in order');
  await feed.close();
  const again = await Feed.open(dir, id, { readOnly: true });
  t.equal(again.length, 6, 'on disk: six entries');
  t.equal(await verifyFeed(again), null, 'and they verify');
  await again.close();
});
