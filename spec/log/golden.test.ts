/**
 * The golden log fixture (spec/fixtures/log/, written once by generate.ts and never
 * regenerated): today's code must read those exact bytes, and must produce those exact bytes
 * again from the same fields. If this fails, the on-disk format changed: that needs a format
 * version bump, not new fixtures.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32 } from 'node:zlib';
import t from 'tap';
import nacl from 'tweetnacl';
import {
  createEntry,
  decodeRecord,
  encodeBody,
  encodeFrame,
  encodeRecord,
  Feed,
  feedName,
  keyPairFromSeed,
  Signer,
  verifyEntry,
  verifyFeed,
  type EntryFields,
  type Heads,
} from '../../log/index.js';
import { fromJson, goldenEvents, GOLDEN_AREA, GOLDEN_SEED } from '../fixtures/log/golden-input.js';
import { norm, snapshot, snapshotDiff, tempDir } from './helpers/util.js';

interface GoldenEntry {
  seq: number;
  hlc: number;
  prev: string | null;
  heads: Array<[string, number]>;
  events: unknown[];
  frameOffset: number;
  body: string;
  signature: string;
  record: string;
  hash: string;
}
interface Golden {
  seed: string;
  publicKey: string;
  area: string;
  feed: string;
  segment: string;
  segmentSha256: string;
  entries: GoldenEntry[];
}

const dir = fileURLToPath(new URL('../fixtures/log/', import.meta.url));
const golden = JSON.parse(await readFile(join(dir, 'entries.json'), 'utf8')) as Golden;
const seg = await readFile(join(dir, golden.segment));
const pub = new Uint8Array(Buffer.from(golden.publicKey, 'hex'));
const h = (s: string): Buffer => Buffer.from(s, 'hex');

const fieldsOf = (g: GoldenEntry): EntryFields => ({
  author: pub,
  area: golden.area,
  seq: g.seq,
  prev: g.prev === null ? null : new Uint8Array(h(g.prev)),
  hlc: g.hlc,
  heads: g.heads as Heads,
  events: g.events.map(fromJson),
});

t.test('the fixture is what it says it is', async (t) => {
  t.equal(createHash('sha256').update(seg).digest('hex'), golden.segmentSha256, 'the segment file is the committed one');
  t.equal(golden.seed, Buffer.from(GOLDEN_SEED).toString('hex'));
  t.equal(Buffer.from(keyPairFromSeed(GOLDEN_SEED).publicKey).toString('hex'), golden.publicKey, 'the key comes from the fixed seed');
  t.equal(golden.area, GOLDEN_AREA);
  t.equal(golden.feed, feedName({ author: pub, area: golden.area }));
  t.equal(golden.feed, `${golden.publicKey}.docs`, 'feed name = author hex "." area');
  t.equal(golden.segment, `feeds/${golden.feed}/0000000000000000.seg`, 'feeds/<feed>/<16-digit first seq>.seg');
  t.equal(golden.entries.length, 5);
  const inputs = goldenEvents();
  for (const g of golden.entries) t.same(norm(g.events.map(fromJson)), norm(inputs[g.seq]!.events), `entry ${g.seq}: the JSON events are the generator's inputs`);
});

t.test('segment layout, parsed independently of log/', async (t) => {
  t.equal(seg.subarray(0, 8).toString('latin1'), 'RLZSEG\0\x01', 'magic "RLZSEG" 00 01');
  t.equal(seg.readBigUInt64LE(8), 0n, 'first sequence number 0, u64 little-endian');
  let pos = 16;
  for (const g of golden.entries) {
    t.equal(pos, g.frameOffset, `entry ${g.seq}: frame at byte ${pos}`);
    const len = seg.readUInt32LE(pos);
    const payload = seg.subarray(pos + 8, pos + 8 + len);
    t.equal(seg.readUInt32LE(pos + 4), crc32(payload), `entry ${g.seq}: CRC-32 of the payload`);
    t.equal(payload.toString('hex'), g.record, `entry ${g.seq}: the payload is the record`);
    t.same(encodeFrame(h(g.record)), seg.subarray(pos, pos + 8 + len), `entry ${g.seq}: encodeFrame gives the same frame`);
    pos += 8 + len;
  }
  t.equal(pos, seg.byteLength, 'the frames fill the file exactly');
});

t.test('records, hashes, signatures and the chain', async (t) => {
  let prevHash: string | null = null;
  for (const g of golden.entries) {
    const record = h(g.record);
    t.equal(g.record, g.body + g.signature, `entry ${g.seq}: record = body || signature`);
    t.equal(h(g.signature).byteLength, 64);
    const tagged = createHash('sha256').update(Buffer.from('realize/entry/v1\0', 'latin1')).update(h(g.body)).digest('hex');
    t.equal(tagged, g.hash, `entry ${g.seq}: hash = SHA-256("realize/entry/v1\\0" || body)`);
    t.ok(nacl.sign.detached.verify(h(g.hash), h(g.signature), pub), `entry ${g.seq}: tweetnacl verifies the signature over the hash`);
    const e = decodeRecord(record);
    verifyEntry(e);
    t.equal(Buffer.from(e.hash).toString('hex'), g.hash, `entry ${g.seq}: decodeRecord computes the same hash`);
    t.equal(e.seq, g.seq);
    t.equal(e.hlc, g.hlc);
    t.equal(e.prev === null ? null : Buffer.from(e.prev).toString('hex'), prevHash, `entry ${g.seq}: prev is the hash of the entry before`);
    t.same(e.heads, g.heads);
    t.same(norm(e.events), norm(g.events.map(fromJson)), `entry ${g.seq}: the decoded events`);
    prevHash = g.hash;
  }
});

t.test('re-encoding the same fields yields the committed bytes', async (t) => {
  const signer = new Signer(keyPairFromSeed(GOLDEN_SEED));
  for (const g of golden.entries) {
    t.equal(Buffer.from(encodeBody(fieldsOf(g))).toString('hex'), g.body, `entry ${g.seq}: the body, byte for byte`);
    const e = createEntry(fieldsOf(g), signer);
    t.equal(encodeRecord(e).toString('hex'), g.record, `entry ${g.seq}: the whole signed record`);
    // Heads given in another order, map keys inserted in another order: still the same bytes.
    const shuffled = { ...fieldsOf(g), heads: [...g.heads].reverse() as Heads, events: (fromJson(reverseKeys(g.events)) as EntryFields['events']) };
    t.equal(Buffer.from(encodeBody(shuffled)).toString('hex'), g.body, `entry ${g.seq}: insertion order does not matter`);
  }
});

t.test('the fixture opens as a feed and verifies', async (t) => {
  const feedDir = join(await tempDir(t), golden.feed);
  await mkdir(feedDir);
  await copyFile(join(dir, golden.segment), join(feedDir, '0000000000000000.seg'));
  const feed = await Feed.open(feedDir, { author: pub, area: golden.area }, { readOnly: true });
  t.equal(feed.length, 5);
  t.equal(await verifyFeed(feed), null);
  t.same((await feed.read(0)).map((e) => Buffer.from(e.hash).toString('hex')), golden.entries.map((g) => g.hash));
  t.same(golden.entries.map((g) => feed.location(g.seq).offset), golden.entries.map((g) => g.frameOffset));
  await feed.close();
});

t.test('the worked example in spec/log-format.md is the fixture', async (t) => {
  const doc = await readFile(fileURLToPath(new URL('../log-format.md', import.meta.url)), 'utf8');
  const block = /In full:\n\n((?: {4}[0-9a-f]+\n)+)/.exec(doc);
  t.ok(block, 'the document shows entry 0 in full');
  t.equal(block?.[1]!.replace(/\s+/g, ''), golden.entries[0]!.body, "the document's body of entry 0 is the fixture's");
  t.ok(doc.includes(golden.entries[0]!.hash), 'its hash');
  t.ok(doc.replace(/\n\s*/g, '').includes(golden.entries[0]!.signature), 'its signature');
  t.ok(doc.includes(golden.publicKey), 'and its key');
});

t.test('the generator refuses to overwrite the fixtures', { timeout: 60_000 }, async (t) => {
  const before = await snapshot(dir);
  const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'generate.ts')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  t.equal(code, 1, 'it exits 1');
  t.match(err, /exists; golden fixtures are written once and never regenerated\. Refusing to overwrite\./);
  t.same(snapshotDiff(before, await snapshot(dir)), [], 'and the fixtures are untouched');
});

function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === '$bytes') return o;
    return Object.fromEntries(keys.reverse().map((k) => [k, reverseKeys(o[k])]));
  }
  return v;
}
