/**
 * An entry's records packed in one row (entry-records.ts): every key packed is found with its
 * value, through the sparse offsets and a short scan; a key not packed is not, wherever it
 * would sort (before the first, between two, after the last).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import t from 'tap';
import { findRecord, packRecords } from '../../projections/entry-records.js';
import { mulberry32 } from '../../tools/bench/prng.js';

t.test('every packed key is found with its value, and no other', async (t) => {
  const rnd = mulberry32(11);
  const keyOf = (): Buffer => Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 20) }, () => Math.floor(rnd() * 256)));
  for (const count of [0, 1, 2, 15, 16, 17, 33, 100, 1000]) {
    const records = new Map<string, { key: Buffer; value: Buffer }>();
    while (records.size < count) {
      const key = keyOf();
      records.set(key.toString('hex'), { key, value: Buffer.from(Array.from({ length: Math.floor(rnd() * (rnd() < 0.05 ? 300 : 8)) }, (_, i) => i & 255)) });
    }
    const row = packRecords([...records.values()]);
    let found = 0;
    for (const { key, value } of records.values()) if (findRecord(row, key)?.equals(value)) found++;
    t.equal(found, count, `${count} records: each found with its value`);
    let strays = 0;
    for (let i = 0; i < 500; i++) {
      const key = keyOf();
      if (!records.has(key.toString('hex')) && findRecord(row, key) !== undefined) strays++;
    }
    for (const key of [Buffer.alloc(0), Buffer.from([0]), Buffer.alloc(21, 255)]) if (!records.has(key.toString('hex')) && findRecord(row, key) !== undefined) strays++;
    t.equal(strays, 0, `${count} records: keys not packed are not found`);
  }
  t.equal(findRecord(undefined, Buffer.from([1])), undefined, 'no row: nothing');
  t.equal(findRecord(Buffer.from([5, 0, 0, 0]), Buffer.from([1])), undefined, 'a cut row: nothing, no error');
});

t.test("a row read with lmdb-js's getBinaryFast: only its own bytes are read, not the stale ones after it in the shared buffer", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-entry-records-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = open({ path: dir });
  t.teardown(() => env.close());
  const db = env.openDB({ name: 'rows', keyEncoding: 'binary', encoding: 'binary' });
  const keys = [Buffer.from([1]), Buffer.from([3]), Buffer.from([5])];
  await db.put(Buffer.from('row'), packRecords(keys.map((key) => ({ key, value: Buffer.from('v') }))));
  // A larger value read before leaves its bytes in the shared buffer past the row's end.
  await db.put(Buffer.from('big'), Buffer.alloc(100_000, 0xab));
  db.getBinaryFast(Buffer.from('big'));
  const row = db.getBinaryFast(Buffer.from('row'))!;
  t.ok(row.byteLength > row.length, `the shared buffer is larger than the row (${row.byteLength} > ${row.length})`);
  t.ok(findRecord(row, Buffer.from([5]))?.equals(Buffer.from('v')), 'the last key is found');
  t.equal(findRecord(row, Buffer.from([9])), undefined, 'a key past the last is not, without reading past the row');
  t.equal(findRecord(row, Buffer.from([4])), undefined, 'nor one between two');
});
