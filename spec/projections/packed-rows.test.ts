/**
 * An entry's records packed by bucket (packed-rows.ts): every key written is found with its
 * value, through one point read or one a level of a split bucket, with or without a head that
 * leads each row; a key not written is not; rows stay under a page (no overflow pages) and a
 * row read with lmdb-js's getBinaryFast is read to its own end only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, type Database } from 'lmdb';
import t, { type Test } from 'tap';
import { findPacked, keyHash, packedRow, PACKED_BYTES, packedRecords, readPacked, writePacked } from '../../projections/packed-rows.js';
import { mulberry32 } from '../../tools/bench/prng.js';

async function binaryDb(t: Test): Promise<Database<Uint8Array, Buffer>> {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-packed-rows-'));
  const env = open({ path: dir });
  t.teardown(async () => {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });
  return env.openDB({ name: 'rows', keyEncoding: 'binary', encoding: 'binary' });
}

t.test('every key written is found with its value, and no other; rows stay small', async (t) => {
  const db = await binaryDb(t);
  const rnd = mulberry32(11);
  const keyOf = (): Buffer => Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 20) }, () => Math.floor(rnd() * 256)));
  const head = Buffer.from([0x85, 0x01]);
  let m = 0;
  for (const count of [0, 1, 2, 15, 16, 17, 100, 1000, 5000]) {
    for (const withHead of [false, true]) {
      m++;
      const records = new Map<string, { kb: Buffer; vb: Buffer; h: number }>();
      while (records.size < count) {
        const kb = keyOf();
        records.set(kb.toString('hex'), { kb, vb: Buffer.from(Array.from({ length: Math.floor(rnd() * (rnd() < 0.05 ? 300 : 8)) }, (_, i) => i & 255)), h: keyHash(kb) });
      }
      const sorted = [...records.values()].sort((a, b) => Buffer.compare(a.kb, b.kb));
      db.transactionSync(() => writePacked(db, m, sorted, 0, withHead ? head : undefined));
      const get = (key: Buffer): Uint8Array | undefined => db.getBinaryFast(key);
      let found = 0;
      for (const { kb, vb } of records.values()) {
        const shared = packedRow(get, m, kb);
        const row = shared === undefined ? undefined : Buffer.from(shared.buffer, shared.byteOffset, shared.length);
        const from = withHead ? head.length : 0;
        if (row !== undefined && (!withHead || row.subarray(0, 2).equals(head)) && Buffer.from(findPacked(row, kb, from, row.length) ?? []).equals(vb) && findPacked(row, kb, from, row.length) !== undefined) found++;
      }
      t.equal(found, count, `${count} records${withHead ? ' behind a head' : ''}: each found with its value`);
      let strays = 0;
      for (let i = 0; i < 300; i++) {
        const kb = keyOf();
        if (!withHead && !records.has(kb.toString('hex')) && readPacked(get, m, kb) !== undefined) strays++;
      }
      t.equal(strays, 0, `${count} records: keys not written are not found`);
      let biggest = 0;
      let total = 0;
      let strange = 0;
      for (const { key, value } of db.getRange({ start: Buffer.from([0, 0, 0, m]), end: Buffer.from([0, 0, 0, m + 1]) })) {
        biggest = Math.max(biggest, value.length);
        if (value.length > 0) for (const _ of packedRecords(value, withHead ? head.length : 0)) total++;
        if (key.readUInt32BE(0) !== m) strange++;
      }
      t.equal(strange, 0, 'rows are keyed by the entry first');
      t.equal(total, count, `${count} records: each written once`);
      // A bucket is split once past PACKED_BYTES: a row holds at most one record more than that.
      t.ok(biggest <= PACKED_BYTES + 2 + 10 + 20 + 300, `${count} records: the biggest row is ${biggest} bytes`);
    }
  }
});

t.test("a row read with lmdb-js's getBinaryFast: only its own bytes are read, not the stale ones after it in the shared buffer", async (t) => {
  const db = await binaryDb(t);
  const keys = [Buffer.from([1]), Buffer.from([3]), Buffer.from([5])];
  db.transactionSync(() => writePacked(db, 7, keys.map((kb) => ({ kb, vb: Buffer.from('v'), h: 0 }))));
  // A larger value read before leaves its bytes in the shared buffer past the row's end.
  await db.put(Buffer.from('big'), Buffer.alloc(100_000, 0xab));
  db.getBinaryFast(Buffer.from('big'));
  // Every record was given hash 0: they share the first bucket's row, [7 u32][0].
  const shared = db.getBinaryFast(Buffer.from([0, 0, 0, 7, 0]))!;
  t.ok(shared.byteLength > shared.length, `the shared buffer is larger than the row (${shared.byteLength} > ${shared.length})`);
  t.same(findPacked(shared, Buffer.from([5]), 0, shared.length), Buffer.from('v'), 'the last key is found');
  t.equal(findPacked(shared, Buffer.from([9]), 0, shared.length), undefined, 'a key past the last is not, without reading past the row');
  t.equal(findPacked(shared, Buffer.from([4]), 0, shared.length), undefined, 'nor one between two');
});

t.test("a point read through getBinaryFast (readPacked) stops at its row's end: a record in the stale bytes after it is not found", async (t) => {
  const db = await binaryDb(t);
  const written = Buffer.from([1]);
  // A key that is not written, in the same first-level bucket as the one that is, and after it.
  let k = 2;
  while (keyHash(Buffer.from([k])) >>> 28 !== keyHash(written) >>> 28) k++;
  const missing = Buffer.from([k]);
  db.transactionSync(() => writePacked(db, 9, [{ kb: written, vb: Buffer.from('w'), h: keyHash(written) }]));
  const rowKey = Buffer.from([0, 0, 0, 9, keyHash(written) >>> 28]);
  const rowLength = db.getBinaryFast(rowKey)!.length;
  // A larger value read before leaves, just past where the row will end, a record of the missing key.
  const stale = Buffer.alloc(4096);
  Buffer.from([1, k, 1, 0x73]).copy(stale, rowLength);
  await db.put(Buffer.from('big'), stale);
  db.getBinaryFast(Buffer.from('big'));
  const get = (key: Buffer): Uint8Array | undefined => db.getBinaryFast(key);
  t.same(readPacked(get, 9, written), Buffer.from('w'), 'the key written is found');
  t.equal(readPacked(get, 9, missing), undefined, `key [${k}], not written, is not found in the bytes past the row`);
  const shared = get(rowKey)!;
  t.equal(findPacked(shared, missing), undefined, "findPacked's default end is the row's length too");
});
