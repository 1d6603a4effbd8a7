/**
 * Undo records (projections/undo-log.ts): a small record is kept as it is and a big one
 * deflated, and both read back as the rows their entries created; keys of hex digits (ids,
 * binary keys) are kept as their bytes, and every kind of key reads back as the same string.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { RootDatabase } from 'lmdb';
import { openLmdbEnv } from '../../projections/lmdb-env.js';
import { UndoLog } from '../../projections/undo-log.js';

/** An undo log over a fresh LMDB environment, removed at the end of the test. */
async function openUndo(t: Test): Promise<{ env: RootDatabase; undo: UndoLog }> {
  const dir = await mkdtemp(join(tmpdir(), 'undo-log-'));
  const env = openLmdbEnv(dir);
  t.teardown(async () => {
    await env.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { env, undo: new UndoLog(env) };
}

t.test('small records are kept as they are, big ones deflated; both read back', async (t) => {
  const { env, undo } = await openUndo(t);
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
  t.ok(Buffer.from(small.subarray(1)).toString('latin1').includes('c\0dir-changes'), 'its groups readable in its bytes');
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

t.test('keys read back as the same strings: ids, id-led keys, binary keys in hex, text', async (t) => {
  const { env, undo } = await openUndo(t);
  const id = '0123456789abcdef0123456789abcdef';
  const keys = [id, `${id}/name é`, `${id}\u0000000000000012\u00005`, 'ab'.repeat(40), 'abc', 'AB', '', 'root', 'home', '0f'];
  const ids = Array.from({ length: 150 }, (_, i) => i.toString(16).padStart(32, '0'));
  env.transactionSync(() => {
    for (const k of keys) undo.touch('c', 'tree-nodes', k);
    undo.seal(1);
    for (const k of ids) undo.touch('c', 'tree-nodes', k);
    for (const k of ids) undo.touch('c', 'content-rows', k);
    undo.seal(2);
  });
  t.same(undo.changedAfter(0, 1).map((c) => c.key), keys);
  t.same(undo.changedAfter(1, 2).map((c) => `${c.name}/${c.key}`), [...ids.map((k) => `tree-nodes/${k}`), ...ids.map((k) => `content-rows/${k}`)]);
  t.ok(undo.db.get(2)!.byteLength < 150 * 16, 'ids as bytes, the second group of the same ids deflated to little');
});
