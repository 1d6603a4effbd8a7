/**
 * The block hasher (engine/block-hasher.ts): a message's blocks hashed, with their records'
 * CRCs, in a worker, the buffer moved there and back (or, in shared memory, read where it
 * lies); and FrameLease: a buffer it handed back
 * is let go (moved to the worker) only once every holder let go, and never within the turn.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import t, { type Test } from 'tap';
import { blockHasher, FrameLease } from '../../engine/block-hasher.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function hashed(t: Test): Promise<{ buffer: ArrayBuffer; view: Buffer }> {
  const src = Buffer.alloc(300_000);
  for (let i = 0; i < src.byteLength; i++) src[i] = (i * 7) & 0xff;
  const buffer = new ArrayBuffer(src.byteLength);
  Buffer.from(buffer).set(src);
  const spans = [
    [0, 100_000],
    [100_000, 150_000],
  ] as const;
  const prefixes = new Uint8Array(32).fill(3);
  const got = await blockHasher.hash(buffer, spans, prefixes);
  t.equal(buffer.byteLength, 0, 'the buffer handed over is moved, not copied');
  spans.forEach(([o, n], i) => {
    const data = src.subarray(o, o + n);
    t.ok(got.hashes[i]!.equals(createHash('sha256').update(data).digest()), `block ${i}: its SHA-256`);
    const head = Buffer.concat([Buffer.alloc(16, 3), got.hashes[i]!]);
    t.equal(got.crcs[i], crc32(data, crc32(head)), `block ${i}: its record's CRC`);
  });
  return { buffer: got.buffer, view: Buffer.from(got.buffer, 100_000, 150_000) };
}

t.test('blocks in shared memory are hashed where they lie: the same hashes and CRCs, nothing moved', async (t) => {
  const views = [70_000, 0, 131_072].map((n, k) => {
    const v = Buffer.from(new SharedArrayBuffer(n + 8), 8, n);
    for (let i = 0; i < n; i++) v[i] = (i * 13 + k) & 0xff;
    return v;
  });
  const prefixes = new Uint8Array(48).fill(5);
  const got = await blockHasher.hashViews(views, prefixes);
  views.forEach((data, i) => {
    t.equal(data.buffer.byteLength, data.byteLength + 8, `block ${i} is still readable here`);
    t.ok(got.hashes[i]!.equals(createHash('sha256').update(data).digest()), `block ${i}: its SHA-256`);
    const head = Buffer.concat([Buffer.alloc(16, 5), got.hashes[i]!]);
    const crc = data.byteLength === 0 ? crc32(head) : crc32(data, crc32(head));
    t.equal(got.crcs[i], crc, `block ${i}: its record's CRC (the empty one: the header's alone)`);
  });
});

t.test('a large batch split between two threads: every hash and CRC in its block\'s place', async (t) => {
  // 41 blocks of 128 KiB (5.1 MiB, past the split threshold), each its own bytes and prefix.
  const n = 41;
  const views = Array.from({ length: n }, (_, k) => {
    const v = Buffer.from(new SharedArrayBuffer(131_072));
    for (let i = 0; i < v.byteLength; i += 512) v[i] = (i + k * 31) & 0xff;
    v[0] = k;
    return v;
  });
  const prefixes = new Uint8Array(16 * n);
  for (let k = 0; k < n; k++) prefixes.fill(k + 1, 16 * k, 16 * k + 16);
  const mine = Buffer.from(prefixes);
  for (const known of [false, true]) {
    const got = await blockHasher.hashViews(views, known ? null : new Uint8Array(prefixes), { split: true });
    t.equal(got.hashes.length, n, 'one hash a block');
    let right = 0;
    views.forEach((data, k) => {
      const hash = createHash('sha256').update(data).digest();
      const crc = known ? 0 : crc32(data, crc32(Buffer.concat([mine.subarray(16 * k, 16 * k + 16), hash])));
      if (got.hashes[k]!.equals(hash) && got.crcs[k] === crc) right++;
    });
    t.equal(right, n, known ? 'hashes in order (CRCs known: 0)' : 'hashes and CRCs in order');
  }
});

t.test('a lease lets the buffer go once the last holder let go, after the turn', async (t) => {
  const { buffer, view } = await hashed(t);
  const lease = FrameLease.take(buffer);
  t.equal(FrameLease.of(view), lease, 'a view finds the lease of its buffer');
  lease.hold();
  lease.hold();
  lease.release();
  lease.release();
  await turn();
  await turn();
  t.equal(view.byteLength, 150_000, 'still held once: the view reads');
  t.equal(view[0], (100_000 * 7) & 0xff, 'and reads right');
  lease.release();
  t.equal(view.byteLength, 150_000, 'let go: still readable in this turn');
  t.equal(FrameLease.of(view), undefined, 'the lease is gone');
  await turn();
  await turn();
  t.equal(buffer.byteLength, 0, 'the buffer went to the worker');
  t.equal(view.byteLength, 0, 'and its views are empty');
  lease.release();
  lease.hold();
  t.pass('holding or letting go of a spent lease does nothing');
});

t.test('a lease never let go leaves the buffer where it is', async (t) => {
  const { buffer, view } = await hashed(t);
  const lease = FrameLease.take(buffer);
  lease.hold();
  lease.release();
  await turn();
  await turn();
  t.equal(view.byteLength, 150_000, 'held: the buffer stays');
  t.equal(FrameLease.of(Buffer.alloc(10)), undefined, 'a buffer no lease was taken on has none');
});

t.test('a process that only gave the hasher buffers to let go still exits (its worker does not keep it alive)', async (t) => {
  const url = new URL('../../engine/block-hasher.ts', import.meta.url).href;
  const dir = t.testdir({ 'drop.mts': `const { blockHasher } = await import(${JSON.stringify(url)});\nfor (let i = 0; i < 8; i++) blockHasher.drop(new ArrayBuffer(131072));\nconsole.log('dropped');\n` });
  const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'drop.mts')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [exitCode, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  t.equal(out.trim(), 'dropped', 'it let the buffers go');
  t.same([exitCode, signal], [0, null], 'and exited by itself');
});
