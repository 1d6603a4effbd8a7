/**
 * `realize log verify` and `realize log show`, called in-process through tools/main.ts (and
 * once as a real process), on healthy, damaged, foreign and read-only stores. Every failure
 * is one clear line and an exit code, never a crash, and never a change to the data.
 */
import { mkdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { initStore, Store, type StoreEnv } from '../../engine/index.js';
import { Feed, feedName, FRAME_HEADER_BYTES, LogError, type FeedId } from '../../log/index.js';
import { makeCli } from '../../tools/cli-context.js';
import { main } from '../../tools/main.js';
import { realizeChild } from '../helpers/run-cli.js';
import { capture, chain, fakeNow, fixFrameCrc, frameOffsets, readOnlyView, seededBytes, signerFor, snapshot, snapshotDiff, tempDir } from './helpers/util.js';

const SEG0 = '0000000000000000.seg';
const T0 = 1_700_000_000_000;
const bob = signerFor('bob');
const bobId: FeedId = { author: bob.publicKey, area: '' };

const env = (): StoreEnv => ({ now: fakeNow(T0, 1000), randomBytes: seededBytes(42) });

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function realize(store: string, ...args: string[]): Promise<Run> {
  const stdout = capture();
  const stderr = capture();
  const code = await main(['--store', store, ...args], makeCli({ env: env(), stdout, stderr }));
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

/** A store holding its own feed (4 entries) and a replica of Bob's feed (2 entries). */
async function makeStore(t: Test): Promise<{ root: string; own: string; ownDir: string; bobDir: string }> {
  const root = join(await tempDir(t), 'store');
  const { publicKey } = await initStore(root, env());
  const store = await Store.open(root, env());
  const feed = await store.feeds.own();
  await feed.append([{ type: 'create', path: '/notes.txt', mode: 0o644 }]);
  await feed.append([{ type: 'write', path: '/notes.txt', offset: 0, data: new Uint8Array([104, 105]) }, { type: 'write', path: '/notes.txt', offset: 2, data: new Uint8Array([33]) }]);
  await feed.append([{ type: 'rename', from: '/notes.txt', to: '/done.txt' }]);
  await feed.append([{ type: 'truncate', path: '/done.txt', size: 0 }]);
  const replica = await store.feeds.replica(bobId);
  await replica.appendVerified(chain(bob, 2));
  await store.close();
  const feeds = join(root, 'feeds');
  return { root, own: publicKey, ownDir: join(feeds, publicKey), bobDir: join(feeds, feedName(bobId)) };
}

t.test('log verify: a healthy store', async (t) => {
  const { root } = await makeStore(t);
  const before = await snapshot(root);
  const r = await realize(root, 'log', 'verify');
  t.equal(r.code, 0, 'exit 0');
  t.match(r.stdout, /^ok: 6 entries in 2 feeds verified in \d+\.\d\d s\n$/);
  t.equal(r.stderr, '', 'nothing on stderr (not a TTY: no progress)');
  const j = await realize(root, '--json', 'log', 'verify');
  t.equal(j.code, 0);
  t.match(JSON.parse(j.stdout), { ok: true, feeds: 2, entries: 6 }, '--json: one object');
  t.same(snapshotDiff(before, await snapshot(root)), [], 'verify changes nothing');
});

t.test('log verify: a forged entry is named (feed, entry, offset) and exits 1', async (t) => {
  const { root, own, ownDir } = await makeStore(t);
  const path = join(ownDir, SEG0);
  const seg = await readFile(path);
  const offs = frameOffsets(seg);
  const at = seg.indexOf(Buffer.from('/done.txt'), offs[2]!);
  seg[at + 1] = 'D'.charCodeAt(0); // entry 2 now renames to /Done.txt, its checksum recomputed
  fixFrameCrc(seg, offs[2]!);
  await writeFile(path, seg);
  const before = await snapshot(root);
  const r = await realize(root, 'log', 'verify');
  t.equal(r.code, 1, 'exit 1: the check ran and found a problem');
  t.equal(r.stdout, '');
  t.match(r.stderr, new RegExp(`^realize: feed ${own}: entry 2 at byte ${offs[2]} of ${path} does not verify: .*bad signature.* \\[BAD_SIGNATURE\\]\\n$`));
  const j = await realize(root, '--json', 'log', 'verify');
  t.equal(j.code, 1);
  t.match(JSON.parse(j.stdout), { ok: false, feeds: 2, problem: { feed: own, seq: 2, segment: path, offset: offs[2], code: 'BAD_SIGNATURE' } }, '--json names the problem');
  t.match(j.stderr, /entry 2 at byte/, 'and the error line is still on stderr');
  t.same(snapshotDiff(before, await snapshot(root)), [], 'nothing changed');
});

t.test('log verify: corruption in the middle of a segment exits 4 naming feed, entry and offset', async (t) => {
  const { root, bobDir } = await makeStore(t);
  const path = join(bobDir, SEG0);
  const seg = await readFile(path);
  const offs = frameOffsets(seg);
  seg[offs[0]! + FRAME_HEADER_BYTES + 3] ^= 0xff; // entry 0 of Bob's replica; entry 1 follows whole
  await writeFile(path, seg);
  const before = await snapshot(root);
  const r = await realize(root, 'log', 'verify');
  t.equal(r.code, 4, 'exit 4: damaged data');
  t.match(r.stderr, new RegExp(`^realize: feed ${feedName(bobId)}, segment ${SEG0}: entry 0 at byte offset ${offs[0]} is corrupt \\(checksum mismatch\\)`));
  t.same(snapshotDiff(before, await snapshot(root)), [], 'nothing changed');
});

t.test('log verify: a torn tail is reported, not served, and (read-only) not cut', async (t) => {
  const { root, ownDir } = await makeStore(t);
  const path = join(ownDir, SEG0);
  const seg = await readFile(path);
  await truncate(path, seg.byteLength - 20);
  const before = await snapshot(root);
  const r = await realize(root, 'log', 'verify');
  t.equal(r.code, 0, 'the whole entries verify');
  t.match(r.stdout, /^ok: 5 entries in 2 feeds/, 'the torn entry is not counted');
  t.match(r.stderr, /torn tail/, 'the torn tail is reported on stderr');
  t.same(snapshotDiff(before, await snapshot(root)), [], 'a read-only command leaves the bytes alone');
});

t.test('bad input: clear errors, exit codes, no change', async (t) => {
  const base = await tempDir(t);
  const empty = join(base, 'empty');
  await mkdir(empty);
  const r1 = await realize(empty, 'log', 'verify');
  t.equal(r1.code, 3, 'an empty directory: exit 3');
  t.match(r1.stderr, /^realize: .*empty is not a Realize store \(no realize-store\.json; create one with `realize init`\)/);
  t.same([...(await snapshot(empty)).keys()], [], 'and it stays empty');

  const missing = join(base, 'missing');
  const r2 = await realize(missing, 'log', 'show');
  t.equal(r2.code, 3, 'a missing directory: exit 3');
  t.match(r2.stderr, /is not a Realize store/);
  t.equal((await snapshot(missing)).size, 0, 'and it is not created');

  const other = join(base, 'other');
  await mkdir(other);
  await writeFile(join(other, 'realize-store.json'), '{"format":"something-else","version":1}');
  await writeFile(join(other, 'data.bin'), Buffer.from([1, 2, 3]));
  const otherBefore = await snapshot(other);
  const r3 = await realize(other, 'log', 'verify');
  t.equal(r3.code, 3);
  t.match(r3.stderr, /names another format/);
  await writeFile(join(other, 'realize-store.json'), 'not json{');
  const r4 = await realize(other, 'log', 'verify');
  t.equal(r4.code, 3);
  t.match(r4.stderr, /damaged \(not JSON\)/);
  await writeFile(join(other, 'realize-store.json'), '{"format":"something-else","version":1}');
  t.same(snapshotDiff(otherBefore, await snapshot(other)), [], 'a foreign directory is left as it was');

  const { root, ownDir } = await makeStore(t);
  const path = join(ownDir, SEG0);
  const good = await readFile(path);
  const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff));
  await writeFile(path, noise);
  let before = await snapshot(root);
  const r5 = await realize(root, 'log', 'verify');
  t.equal(r5.code, 4, 'a segment of random bytes: exit 4');
  t.match(r5.stderr, new RegExp(`^realize: feed [0-9a-f]{64}, segment ${SEG0}: not a Realize segment \\(bad or missing header\\)\\n$`));
  t.same(snapshotDiff(before, await snapshot(root)), [], 'the random segment is left as it was');

  await writeFile(path, good.subarray(0, 9));
  before = await snapshot(root);
  const r6 = await realize(root, 'log', 'show');
  t.equal(r6.code, 4, 'a segment truncated inside its header: exit 4');
  t.match(r6.stderr, /not a Realize segment/);
  t.same(snapshotDiff(before, await snapshot(root)), [], 'the truncated segment is left as it was');

  await writeFile(path, good);
  await writeFile(join(root, 'feeds', 'stray-file'), 'hello');
  const r7 = await realize(root, 'log', 'verify');
  t.equal(r7.code, 4, 'a stray file among the feeds: exit 4');
  t.match(r7.stderr, /not a feed name: "stray-file"/);
});

t.test('log show', async (t) => {
  const { root, own } = await makeStore(t);
  const r = await realize(root, 'log', 'show');
  t.equal(r.code, 0);
  const lines = r.stdout.trimEnd().split('\n');
  const feeds = [own, feedName(bobId)].sort();
  t.equal(lines.length, 6, 'one line per entry');
  const ownLines = lines.filter((l) => l.startsWith(own.slice(0, 12)));
  t.same(ownLines.map((l) => l.replace(/ \d{4}-\d\d-\d\dT[\d:.]+Z /, ' TIME ')), [
    `${own.slice(0, 12)} #0 TIME create`,
    `${own.slice(0, 12)} #1 TIME write×2`,
    `${own.slice(0, 12)} #2 TIME rename`,
    `${own.slice(0, 12)} #3 TIME truncate`,
  ]);
  t.match(ownLines[0], / 2023-11-14T22:13:2\d\.\d{3}Z /, 'the time comes from the injected clock');
  t.ok(lines[0]!.startsWith(feeds[0]!.slice(0, 12)), 'feeds in name order');

  const j = await realize(root, '--json', 'log', 'show', '--feed', own.slice(0, 8));
  t.equal(j.code, 0);
  const rows = j.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(rows.length, 4, '--feed: only the own feed');
  t.match(rows[1], { feed: own, seq: 1, events: [{ type: 'write', data: '6869' }, { type: 'write', data: '21' }] }, 'bytes as hex');
  t.equal(rows[0]!['prev'], null);
  t.equal(rows[1]!['prev'], rows[0]!['hash'], 'each prev is the previous hash');
  t.match(rows[0]!['hash'], /^[0-9a-f]{64}$/);

  const page = await realize(root, '--json', 'log', 'show', '--feed', own, '--from', '1', '--limit', '2');
  t.same(page.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq), [1, 2], '--from 1 --limit 2');

  const none = await realize(root, 'log', 'show', '--feed', 'ffffffff');
  t.equal(none.code, 2, 'an unknown feed is a usage error');
  t.match(none.stderr, /no feed starts with ffffffff/);
  const badSeq = await realize(root, 'log', 'show', '--from', '-1');
  t.equal(badSeq.code, 2, 'a bad sequence number is a usage error');
});

t.test('a read-only store (read-only bind mount, so even root cannot write)', async (t) => {
  const { root, ownDir } = await makeStore(t);
  // Leave a torn tail too: a read-only store must still serve the whole entries.
  const path = join(ownDir, SEG0);
  const size = (await readFile(path)).byteLength;
  await truncate(path, size - 5);
  const view = await readOnlyView(t, root);
  if (view.path === null) {
    t.plan(0, view.reason); // reported as a skip, with the reason: bind mounts need CAP_SYS_ADMIN
    return;
  }
  const ro = view.path;
  const before = await snapshot(root);
  const v = await realize(ro, 'log', 'verify');
  t.equal(v.code, 0, 'log verify works on a read-only store');
  t.match(v.stdout, /^ok: 5 entries in 2 feeds/);
  t.match(v.stderr, /torn tail/, 'the torn tail is reported');
  const s = await realize(ro, '--json', 'log', 'show');
  t.equal(s.code, 0, 'log show works', { stderr: s.stderr });
  t.equal(s.stdout.trimEnd().split('\n').length, 5, 'one line per whole entry');
  const id = await realize(ro, 'id');
  t.equal(id.code, 0, 'realize id works');

  await t.rejects(Store.open(ro, env()), { name: 'EngineError', code: 'READ_ONLY', message: /read-only \(EROFS\)/ }, 'a writable open of the store: READ_ONLY');
  const own = (await readFile(join(ro, 'identity', 'public-key'), 'utf8')).trim();
  const ownId: FeedId = { author: new Uint8Array(Buffer.from(own, 'hex')), area: '' };
  const err = await Feed.open(join(ro, 'feeds', own), ownId, {}).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(err instanceof LogError && err.code === 'READ_ONLY', 'a writable open of a feed: READ_ONLY');
  t.match((err as Error).message, /EROFS/);
  const feed = await Feed.open(join(ro, 'feeds', own), ownId, { readOnly: true });
  t.equal(feed.length, 3, 'a read-only open serves the whole entries');
  await t.rejects(feed.append(['x']), { code: 'READ_ONLY' });
  await feed.close();
  t.same(snapshotDiff(before, await snapshot(root)), [], 'not one byte changed');
});

t.test('the real binary: exit code and message', { timeout: 60_000 }, async (t) => {
  const { root, own, ownDir } = await makeStore(t);
  const path = join(ownDir, SEG0);
  const seg = await readFile(path);
  const offs = frameOffsets(seg);
  seg[offs[1]! - 1] ^= 0x80; // the last signature byte of entry 0, checksum recomputed
  fixFrameCrc(seg, offs[0]!);
  await writeFile(path, seg);
  const { code, stdout: out, stderr: err } = await realizeChild(t, '--store', root, 'log', 'verify');
  t.equal(code, 1, 'the process exits 1');
  t.equal(out, '');
  t.match(err, new RegExp(`^realize: feed ${own}: entry 0 at byte ${offs[0]} of ${path} does not verify: .*\\[BAD_SIGNATURE\\]\\n$`), 'one line naming the first bad entry');
});
