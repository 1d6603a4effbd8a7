import t from 'tap';
import { constants } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DIRECT_ALIGN, DIRECT_BYTES, PackAppends } from '../../engine/pack-appends.js';

/** Deterministic bytes: byte i of run `seed` (no run repeats another's bytes at the same place). */
function bytes(seed: number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    b[i] = s & 255;
  }
  return b;
}

/** Whether the directory's file system takes O_DIRECT opens. */
async function directWorks(dir: string): Promise<boolean> {
  const p = join(dir, 'probe');
  await (await open(p, 'w')).close();
  try {
    await (await open(p, constants.O_WRONLY | constants.O_DIRECT)).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Appends runs of the given sizes (each split into parts of `part` bytes at most, as the store
 * hands records over) to one pack, checking after each that the file holds exactly what was
 * appended, no more: the same bytes and size as buffered writes leave.
 */
async function appendAndCheck(t: Tapish, appends: PackAppends, path: string, runs: readonly number[], part: number, start: Buffer, direct = true): Promise<Buffer> {
  const fh = await open(path, 'r+');
  let want = start;
  try {
    for (const [k, n] of runs.entries()) {
      const run = bytes(k + 1 + start.byteLength, n);
      const parts: Buffer[] = [];
      for (let at = 0; at < n; at += part) parts.push(run.subarray(at, Math.min(n, at + part)));
      await appends.write(1, fh, want.byteLength, parts, n, { direct });
      want = Buffer.concat([want, run]);
      const got = await readFile(path);
      t.equal(got.byteLength, want.byteLength, `size after run ${k} (${n} bytes)`);
      t.ok(got.equals(want), `bytes after run ${k}`);
    }
  } finally {
    await fh.close();
  }
  return want;
}

type Tapish = Pick<typeof t, 'equal' | 'ok'>;

/** A fresh test directory holding an empty pack file. */
async function emptyPack(t: Pick<typeof import('tap').default, 'testdir'>): Promise<{ dir: string; path: string }> {
  const dir = t.testdir();
  const path = join(dir, 'pack');
  await (await open(path, 'w')).close();
  return { dir, path };
}

t.test('appends leave the bytes and size of buffered writes, large runs going O_DIRECT', async (t) => {
  const { dir, path } = await emptyPack(t);
  const appends = new PackAppends(() => path);
  // Unaligned sizes throughout: small header-like runs, runs past the threshold, one past
  // the staging buffer (8 MiB), small runs between large ones (the kept tail moves with them).
  const runs = [16, DIRECT_BYTES + 48, 100, 3 * DIRECT_BYTES + 4097, DIRECT_ALIGN - 1, 9 * 1024 * 1024 + 123, 5, DIRECT_BYTES];
  await appendAndCheck(t, appends, path, runs, 128 * 1024 + 48, Buffer.alloc(0));
  const large = runs.filter((n) => n >= DIRECT_BYTES).length;
  if (await directWorks(dir)) t.equal(appends.direct, large, 'every large run went O_DIRECT');
  else t.equal(appends.direct, 0, 'no O_DIRECT where the file system refuses it');
  t.equal(appends.direct + appends.buffered, runs.length, 'every run written once');
  await appends.forget();
});

t.test('runs not asked to go around the page cache are buffered, however large', async (t) => {
  const { path } = await emptyPack(t);
  const appends = new PackAppends(() => path);
  await appendAndCheck(t, appends, path, [3 * DIRECT_BYTES + 1, 100, 9 * 1024 * 1024], 128 * 1024, Buffer.alloc(0), false);
  t.equal(appends.direct, 0);
  t.equal(appends.buffered, 3);
  await appends.forget();
});

t.test('a pack written before (another process, another store) is appended to after its unaligned tail, read back', async (t) => {
  const dir = t.testdir();
  const path = join(dir, 'pack');
  const before = bytes(99, 3 * DIRECT_ALIGN + 777);
  const fh = await open(path, 'w');
  await fh.write(before, 0, before.byteLength, 0);
  await fh.close();
  const appends = new PackAppends(() => path);
  const want = await appendAndCheck(t, appends, path, [2 * DIRECT_BYTES + 5, 10, DIRECT_BYTES + 1], 64 * 1024, before);
  t.equal((await stat(path)).size, want.byteLength);
  await appends.forget();
});

t.test('writes to another pack leave what is kept of the last one alone', async (t) => {
  const dir = t.testdir();
  const paths = [join(dir, 'pack-1'), join(dir, 'pack-2')];
  for (const p of paths) await (await open(p, 'w')).close();
  const appends = new PackAppends((n) => paths[n - 1]!);
  const fhs = await Promise.all(paths.map((p) => open(p, 'r+')));
  try {
    const want = [Buffer.alloc(0), Buffer.alloc(0)];
    // Pack 1 gets a large run (its tail kept), then pack 2 a buffered run that ends exactly
    // where pack 1's does, then pack 1 again; and so on, both ways.
    const plan: Array<[number, number, boolean]> = [
      [1, DIRECT_BYTES + 100, true],
      [2, DIRECT_BYTES + 100, false],
      [1, DIRECT_BYTES + 5, true],
      [2, 5, false],
      [1, 7, false],
      [2, DIRECT_BYTES + 2, true],
      [1, DIRECT_BYTES + 2, false],
      [2, DIRECT_BYTES, true],
      [1, DIRECT_BYTES, true],
    ];
    for (const [k, [n, len, direct]] of plan.entries()) {
      const run = bytes(50 + k, len);
      await appends.write(n, fhs[n - 1]!, want[n - 1]!.byteLength, [run], len, { direct });
      want[n - 1] = Buffer.concat([want[n - 1]!, run]);
    }
    for (const [i, p] of paths.entries()) t.ok((await readFile(p)).equals(want[i]!), `pack ${i + 1} holds its own runs`);
  } finally {
    for (const fh of fhs) await fh.close();
    await appends.forget();
  }
});

t.test('a write that does not start where the last ended reads the tail again', async (t) => {
  const { path } = await emptyPack(t);
  const appends = new PackAppends(() => path);
  const fh = await open(path, 'r+');
  try {
    const a = bytes(1, DIRECT_BYTES + 333);
    await appends.write(1, fh, 0, [a], a.byteLength, { direct: true });
    // Someone else (recovery, gc) changed the file behind the appends' back: cut it shorter.
    await fh.truncate(1000);
    const b = bytes(2, DIRECT_BYTES + 7);
    await appends.write(1, fh, 1000, [b], b.byteLength, { direct: true });
    const want = Buffer.concat([a.subarray(0, 1000), b]);
    const got = await readFile(path);
    t.ok(got.equals(want), 'the bytes before the new offset are the file\'s, not the last write\'s');
    t.equal(got.byteLength, want.byteLength);
  } finally {
    await fh.close();
    await appends.forget();
  }
});

t.test('where O_DIRECT is refused, every append is buffered from then on', async (t) => {
  const { path } = await emptyPack(t);
  let tries = 0;
  const appends = new PackAppends(() => path, {
    openDirect: async () => {
      tries++;
      throw Object.assign(new Error('refused'), { code: 'EINVAL' });
    },
  });
  await appendAndCheck(t, appends, path, [DIRECT_BYTES + 1, 2 * DIRECT_BYTES, 3], 128 * 1024, Buffer.alloc(0));
  t.equal(tries, 1, 'refused once, not asked again');
  t.equal(appends.direct, 0);
  t.equal(appends.buffered, 3);
});

t.test('an I/O failure of an O_DIRECT write is thrown, and the run can be written again', async (t) => {
  const { path } = await emptyPack(t);
  let fail = true;
  const appends = new PackAppends(() => path, {
    openDirect: async (p) => {
      const real = await open(p, 'r+');
      if (!fail) return real;
      await real.close();
      throw Object.assign(new Error('disk gone'), { code: 'EIO' });
    },
  });
  const fh = await open(path, 'r+');
  try {
    const a = bytes(5, DIRECT_BYTES + 10);
    await t.rejects(appends.write(1, fh, 0, [a], a.byteLength, { direct: true }), { code: 'EIO' });
    fail = false;
    await appends.write(1, fh, 0, [a], a.byteLength, { direct: true });
    t.ok((await readFile(path)).equals(a), 'written again in place');
    t.equal(appends.direct, 1, 'an I/O error is not a refusal: O_DIRECT still used');
  } finally {
    await fh.close();
    await appends.forget();
  }
});
