/**
 * Undo records (projections/undo-log.ts): a small record is kept as it is and a big one
 * deflated, and both read back as the rows their entries created.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openLmdbEnv } from '../../projections/lmdb-env.js';
import { UndoLog } from '../../projections/undo-log.js';

t.test('small records are kept as they are, big ones deflated; both read back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'undo-log-'));
  const env = openLmdbEnv(dir);
  t.teardown(async () => {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });
  const undo = new UndoLog(env);
  const many = Array.from({ length: 200 }, (_, i) => `key-${i.toString().padStart(5, '0')}`);
  env.transactionSync(() => {
    undo.touch('c', 'dir-changes', 'a');
    undo.touch('c', 'content-versions', 'b');
    undo.seal(1);
    for (const k of many) undo.touch('c', 'dir-changes', k);
    undo.seal(2);
  });
  const small = undo.db.get(1)!;
  const big = undo.db.get(2)!;
  t.equal(small[0], 0, 'the small record is tagged as kept as it is');
  t.same(JSON.parse(Buffer.from(small.subarray(1)).toString('utf8')), [['c\0dir-changes', ['a']], ['c\0content-versions', ['b']]]);
  t.equal(big[0], 1, 'the big record is tagged as deflated');
  t.ok(big.byteLength < many.join('').length, 'and deflated');
  t.same(
    undo.changedAfter(0, 1).map((c) => `${c.name}/${c.key}`),
    ['dir-changes/a', 'content-versions/b'],
  );
  t.same(
    undo.changedAfter(1, 2).map((c) => c.key),
    many,
  );
});
