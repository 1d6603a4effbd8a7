/**
 * Entries (log/entry.ts): encode/decode round trip, deterministic bytes, the hash with its
 * domain tag, tampered bytes and forged signatures, and the chain checks with their codes.
 */
import { createHash } from 'node:crypto';
import t from 'tap';
import {
  checkLink,
  createEntry,
  decodeRecord,
  encodeBody,
  encodeCanonical,
  encodeRecord,
  entryHash,
  feedName,
  HybridClock,
  hlcFromWallMs,
  hlcWallMs,
  parseFeedName,
  Signer,
  verifyEntry,
  type CborValue,
  type EntryFields,
} from '../../log/index.js';
import { chain, keyFor, norm, signerFor } from './helpers/util.js';

const alice = signerFor('alice');
const bob = signerFor('bob');

const fields = (over: Partial<EntryFields> = {}): EntryFields => ({
  author: alice.publicKey,
  area: 'photos',
  seq: 0,
  prev: null,
  hlc: 1_700_000_000_000_000,
  heads: [],
  events: [{ type: 'create', path: '/a.txt', mode: 0o644, data: new Uint8Array([1, 2, 3]) }],
  ...over,
});

t.test('round trip: createEntry -> encodeRecord -> decodeRecord', async (t) => {
  const heads: Array<[string, number]> = [
    [feedName({ author: bob.publicKey, area: '' }), 12],
    [feedName({ author: keyFor('carol').publicKey, area: 'photos' }), 3],
  ];
  const events: CborValue[] = [
    { type: 'write', path: '/ü/😀', offset: 2 ** 40, data: new Uint8Array(300).fill(7) },
    { type: 'truncate', path: '/x', size: 0, delta: -5 },
    'a bare string event',
    [1, [2, [3]]],
  ];
  const e = createEntry(fields({ heads, events }), alice);
  const record = encodeRecord(e);
  t.equal(record.byteLength, e.body.byteLength + 64, 'record = body || 64-byte signature');
  t.same(record.subarray(0, e.body.byteLength), Buffer.from(e.body), 'the record starts with the body');
  t.same(record.subarray(e.body.byteLength), Buffer.from(e.signature), 'and ends with the signature');
  const d = decodeRecord(record);
  t.same(Buffer.from(d.author), Buffer.from(alice.publicKey));
  t.equal(d.area, 'photos');
  t.equal(d.seq, 0);
  t.equal(d.prev, null);
  t.equal(d.hlc, 1_700_000_000_000_000);
  t.same(d.heads, [...heads].sort((a, b) => (a[0] < b[0] ? -1 : 1)), 'heads come back sorted by feed name');
  t.same(norm(d.events), norm(events), 'events come back equal, bytes, big and negative integers included');
  t.same(Buffer.from(d.hash), Buffer.from(e.hash));
  t.same(Buffer.from(d.signature), Buffer.from(e.signature));
  verifyEntry(d);
  t.pass('the decoded entry verifies');
  // The second entry chains to the first.
  const e1 = createEntry(fields({ seq: 1, prev: e.hash, hlc: e.hlc + 1 }), alice);
  const d1 = decodeRecord(encodeRecord(e1));
  t.same(Buffer.from(d1.prev!), Buffer.from(e.hash));
  checkLink({ author: alice.publicKey, area: 'photos' }, d, d1);
  t.pass('entry 1 links to entry 0');
});

t.test('the body is the CBOR array [1, author, area, seq, prev, hlc, heads, events]', async (t) => {
  const e = createEntry(fields({ area: '', events: [1] }), alice);
  const want = Buffer.concat([
    Buffer.from('88', 'hex'), // array of 8
    Buffer.from('01', 'hex'), // format 1
    Buffer.from('5820', 'hex'), // bytes(32)
    Buffer.from(alice.publicKey),
    Buffer.from('60', 'hex'), // ''
    Buffer.from('00', 'hex'), // seq 0
    Buffer.from('f6', 'hex'), // prev null
    Buffer.from('1b', 'hex'), // hlc as uint64
    (() => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(1_700_000_000_000_000n);
      return b;
    })(),
    Buffer.from('80', 'hex'), // heads []
    Buffer.from('8101', 'hex'), // events [1]
  ]);
  t.same(Buffer.from(e.body), want, 'byte for byte');
  const tagged = createHash('sha256').update('realize/entry/v1\0').update(e.body).digest();
  t.same(Buffer.from(e.hash), tagged, 'hash = SHA-256("realize/entry/v1\\0" || body)');
  t.notSame(Buffer.from(e.hash), createHash('sha256').update(e.body).digest(), 'the domain tag matters');
  t.same(Buffer.from(entryHash(e.body)), tagged);
});

t.test('deterministic: the same fields give the same bytes', async (t) => {
  const a = createEntry(fields({ events: [{ z: 1, a: { y: 2, b: 3 }, '10': 4 }] }), alice);
  const b = createEntry(fields({ events: [{ '10': 4, a: { b: 3, y: 2 }, z: 1 }] }), alice);
  t.same(Buffer.from(a.body), Buffer.from(b.body), 'map insertion order does not matter');
  t.same(Buffer.from(a.signature), Buffer.from(b.signature), 'Ed25519 signatures are deterministic');
  t.same(encodeRecord(a), encodeRecord(b), 'so the whole record is identical');
  const h1 = createEntry(fields({ heads: [['b', 1], ['a', 2]] }), alice);
  const h2 = createEntry(fields({ heads: [['a', 2], ['b', 1]] }), alice);
  t.same(Buffer.from(h1.body), Buffer.from(h2.body), 'heads are sorted before encoding');
  t.same(Buffer.from(encodeBody(fields())), Buffer.from(encodeBody(fields())), 'encodeBody is a pure function');
  const other = createEntry(fields({ hlc: 1_700_000_000_000_001 }), alice);
  t.notSame(Buffer.from(other.hash), Buffer.from(a.hash), 'any field change changes the hash');
});

t.test('a tampered byte anywhere in a record is caught', async (t) => {
  const e = createEntry(fields({ events: [{ type: 'note', text: 'hello world, this is entry zero' }] }), alice);
  const record = encodeRecord(e);
  let caught = 0;
  const codes = new Set<string>();
  for (let i = 0; i < record.byteLength; i++) {
    const bad = Buffer.from(record);
    bad[i] ^= 0x01;
    try {
      verifyEntry(decodeRecord(bad));
    } catch (err) {
      caught++;
      codes.add((err as { code: string }).code);
      continue;
    }
    t.fail(`flipping byte ${i} went unnoticed`);
  }
  t.equal(caught, record.byteLength, `every one of the ${record.byteLength} single-byte flips is refused`);
  t.ok(codes.has('BAD_SIGNATURE'), 'flips in the signature or in data give BAD_SIGNATURE');
  t.ok([...codes].every((c) => c === 'BAD_SIGNATURE' || c === 'MALFORMED_ENTRY'), `only BAD_SIGNATURE or MALFORMED_ENTRY (${[...codes].join(', ')})`);
  // A flip inside the text keeps the CBOR valid: it must be the signature that fails.
  const at = record.indexOf(Buffer.from('hello world'));
  const bad = Buffer.from(record);
  bad[at] = 'H'.charCodeAt(0);
  const d = decodeRecord(bad);
  t.same(d.events, [{ type: 'note', text: 'Hello world, this is entry zero' }], 'the tampered record still decodes');
  t.throws(() => verifyEntry(d), { code: 'BAD_SIGNATURE' }, 'but its signature no longer verifies');
});

t.test('forged signatures are refused', async (t) => {
  const honest = createEntry(fields(), alice);
  // Bob signs an entry that claims Alice as author.
  const bobSig = bob.sign(honest.hash);
  t.throws(() => verifyEntry({ ...honest, signature: bobSig }), { code: 'BAD_SIGNATURE' }, "Bob's signature on Alice's entry");
  t.throws(() => verifyEntry({ ...honest, signature: new Uint8Array(64) }), { code: 'BAD_SIGNATURE' }, 'an all-zero signature');
  t.throws(() => verifyEntry({ ...honest, signature: honest.signature.subarray(0, 63) }), { code: 'BAD_SIGNATURE' }, 'a short signature');
  // A signature over the body instead of the hash.
  t.throws(() => verifyEntry({ ...honest, signature: alice.sign(honest.body) }), { code: 'BAD_SIGNATURE' }, 'a signature over the wrong message');
  // Alice's valid signature moved onto another body.
  const other = createEntry(fields({ hlc: honest.hlc + 1 }), alice);
  const moved = Buffer.concat([other.body, honest.signature]);
  t.throws(() => verifyEntry(decodeRecord(moved)), { code: 'BAD_SIGNATURE' }, 'a real signature on a different body');
  t.throws(() => createEntry(fields(), bob), { code: 'WRONG_FEED' }, 'createEntry refuses to sign as someone else');
});

t.test('checkLink: GAP, BAD_SEQUENCE, BAD_CHAIN, WRONG_FEED', async (t) => {
  const feed = { author: alice.publicKey, area: '' };
  const [e0, e1, e2, e3] = chain(alice, 4);
  checkLink(feed, null, e0!);
  checkLink(feed, e0!, e1!);
  t.pass('a well-formed chain links');
  t.throws(() => checkLink(feed, null, e1!), { code: 'GAP' }, 'a feed cannot start at entry 1');
  t.throws(() => checkLink(feed, e1!, e3!), { code: 'GAP' }, 'skipping an entry is a gap');
  t.throws(() => checkLink(feed, e2!, e1!), { code: 'BAD_SEQUENCE' }, 'going backwards (reordered) is a bad sequence');
  t.throws(() => checkLink(feed, e1!, e1!), { code: 'BAD_SEQUENCE' }, 'a repeated entry is a bad sequence');
  const unchained = createEntry({ ...e2!, prev: new Uint8Array(32).fill(9) }, alice);
  t.throws(() => checkLink(feed, e1!, unchained), { code: 'BAD_CHAIN' }, 'the right seq with the wrong prev hash is a broken chain');
  t.throws(() => checkLink(feed, e1!, { ...e2!, prev: e0!.hash }), { code: 'BAD_CHAIN' });
  const [b0] = chain(bob, 1);
  t.throws(() => checkLink(feed, null, b0!), { code: 'WRONG_FEED' }, "Bob's entry does not belong to Alice's feed");
  const [areaEntry] = chain(alice, 1, { area: 'photos' });
  t.throws(() => checkLink(feed, null, areaEntry!), { code: 'WRONG_FEED' }, "an entry of Alice's photos feed does not belong to her household feed");
});

t.test('malformed records and fields are refused', async (t) => {
  t.throws(() => decodeRecord(new Uint8Array(64)), { code: 'MALFORMED_ENTRY' }, 'a record no longer than a signature');
  t.throws(() => decodeRecord(Buffer.concat([Buffer.from([0xff, 0xff]), Buffer.alloc(64)])), { code: 'MALFORMED_ENTRY' }, 'a body that is not CBOR');
  const wrongShape = (v: CborValue): Buffer => Buffer.concat([encodeCanonical(v), Buffer.alloc(64)]);
  t.throws(() => decodeRecord(wrongShape({ a: 1 })), { code: 'MALFORMED_ENTRY' }, 'a map instead of the entry array');
  t.throws(() => decodeRecord(wrongShape([2, alice.publicKey, '', 0, null, 1, [], [1]])), { code: 'MALFORMED_ENTRY' }, 'format version 2');
  t.throws(() => decodeRecord(wrongShape([1, 'not bytes', '', 0, null, 1, [], [1]])), { code: 'MALFORMED_ENTRY' }, 'author not bytes');
  t.throws(() => decodeRecord(wrongShape([1, alice.publicKey, '', 0, null, 1, [['x']], [1]])), { code: 'MALFORMED_ENTRY' }, 'malformed heads');
  t.throws(() => decodeRecord(wrongShape([1, alice.publicKey, '', 0, null, 1, [], []])), { code: 'MALFORMED_ENTRY' }, 'no events');
  t.throws(() => decodeRecord(wrongShape([1, alice.publicKey, '', 1, null, 1, [], [1]])), { code: 'MALFORMED_ENTRY' }, 'entry 1 without prev');
  t.throws(() => decodeRecord(wrongShape([1, alice.publicKey, '', 0, new Uint8Array(32), 1, [], [1]])), { code: 'MALFORMED_ENTRY' }, 'entry 0 with prev');
  t.throws(() => decodeRecord(wrongShape([1, alice.publicKey, 'Bad Area', 0, null, 1, [], [1]])), { code: 'MALFORMED_ENTRY' }, 'a bad area name');
  t.throws(() => decodeRecord(wrongShape([1, alice.publicKey.subarray(0, 31), '', 0, null, 1, [], [1]])), { code: 'MALFORMED_ENTRY' }, 'a 31-byte author');
  t.throws(() => createEntry(fields({ seq: -1 }), alice), { code: 'MALFORMED_ENTRY' });
  t.throws(() => createEntry(fields({ hlc: 1.5 }), alice), { code: 'MALFORMED_ENTRY' });
  t.throws(() => createEntry(fields({ events: [] }), alice), { code: 'MALFORMED_ENTRY' });
  t.throws(() => createEntry(fields({ events: [0.25] }), alice), { code: 'MALFORMED_ENTRY' }, 'a float event');
});

t.test('feed names', async (t) => {
  const hex = Buffer.from(alice.publicKey).toString('hex');
  t.equal(feedName({ author: alice.publicKey, area: '' }), hex);
  t.equal(feedName({ author: alice.publicKey, area: 'photos' }), `${hex}.photos`);
  const p = parseFeedName(`${hex}.photos`);
  t.same(Buffer.from(p.author), Buffer.from(alice.publicKey));
  t.equal(p.area, 'photos');
  t.equal(parseFeedName(hex).area, '');
  for (const bad of ['', hex.slice(1), `${hex}.`, `${hex}.Photos`, `${hex.toUpperCase()}`, 'README']) {
    t.throws(() => parseFeedName(bad), { code: 'WRONG_FEED' }, `${JSON.stringify(bad.slice(0, 20))} is not a feed name`);
  }
});

t.test('HybridClock with an injected clock', async (t) => {
  let now = 1000;
  const c = new HybridClock(() => now);
  t.equal(c.tick(), hlcFromWallMs(1000));
  t.equal(c.tick(), hlcFromWallMs(1000) + 1, 'same millisecond: the logical counter moves');
  now = 900;
  t.equal(c.tick(), hlcFromWallMs(1000) + 2, 'the wall clock going back does not move the HLC back');
  c.observe(hlcFromWallMs(5000) + 7);
  t.equal(c.tick(), hlcFromWallMs(5000) + 8, 'observing a later remote time moves past it');
  now = 6000;
  t.equal(c.tick(), hlcFromWallMs(6000));
  t.equal(hlcWallMs(c.last), 6000);
  const fresh = new Signer(keyFor('alice'));
  t.same(Buffer.from(fresh.publicKey), Buffer.from(alice.publicKey), 'keys from the same seed are the same');
});
