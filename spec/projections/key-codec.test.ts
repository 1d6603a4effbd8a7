/**
 * Row keys as bytes (key-codec.ts for the current rows, history.ts keyBytes for the history
 * rows): keys led by a node id or by an inode key (inode-table.ts keyOf) round-trip through both
 * encodings, an inode key takes 5 bytes where an id takes 17, distinct numbers give distinct
 * keys, and a directory's entries (its key, then `/name`) stay one range whatever its number.
 */
import t from 'tap';
import { idKeys, inodeKey, inodeKeyLength } from '../../projections/key-codec.js';
import { keyBytes, keyOfBytes } from '../../projections/history.js';

function stored(key: string): Buffer {
  const out = Buffer.alloc(600);
  return out.subarray(0, idKeys.writeKey(key, out, 0));
}

t.test('inode keys and id keys round-trip through both encodings', async (t) => {
  const id = '0123456789abcdef0123456789abcdef';
  const keys = [id, `${id}/name`, 'plain text', '\u0001ABCDEF12 upper-case hex stays text'];
  for (const [ino, gen] of [[1, 0], [2, 0], [3, 0], [0xfffffffe, 0], [0xffffffff, 0], [123456, 3]] as const) {
    const k = inodeKey(ino, gen);
    keys.push(k, `${k}/f12~34`, `${k}\x00000000000012\x007`, `${k}/naïve ☃ 𝄞`);
    t.equal(inodeKeyLength(`${k}/x`), k.length, `the inode part of ${JSON.stringify(k)} is found`);
  }
  for (const key of keys) {
    const b = stored(key);
    t.equal(idKeys.readKey(b, 0, b.length), key, `current rows: ${JSON.stringify(key)}`);
    t.equal(keyOfBytes(keyBytes(key)), key, `history rows: ${JSON.stringify(key)}`);
  }
  t.equal(stored(inodeKey(7, 0)).length, 5, 'an inode key takes 5 bytes');
  t.equal(keyBytes(inodeKey(7, 0)).length, 5, '5 in history rows too');
  t.equal(stored(id).length, 17, 'an id 17');
  t.equal(inodeKeyLength('0123'), 0, 'a key not led by an inode key has no inode part');
});

t.test('distinct numbers give distinct keys, spread over the key space', async (t) => {
  const seen = new Set<string>();
  let high = 0;
  for (let ino = 1; ino <= 100_000; ino++) {
    const k = inodeKey(ino, 0);
    seen.add(k);
    if (stored(k)[1]! >= 128) high++;
  }
  t.equal(seen.size, 100_000, 'no two numbers share a key');
  t.ok(high > 45_000 && high < 55_000, `consecutive numbers land all over the tree (${high} of 100,000 in its upper half)`);
  t.not(inodeKey(5, 0), inodeKey(5, 1), 'a generation makes another key');
});

t.test("a directory's entries are one range of keys", async (t) => {
  for (const ino of [1, 2, 77, 0xffffffff]) {
    const dir = inodeKey(ino, 0);
    const start = stored(`${dir}/`);
    const end = stored(`${dir}0`);
    for (const name of ['a', 'zzz', '\u00ff', '𝄞']) {
      const k = stored(`${dir}/${name}`);
      t.ok(Buffer.compare(start, k) <= 0 && Buffer.compare(k, end) < 0, `${name} of ${ino} is inside`);
    }
    const other = stored(`${inodeKey(ino + 1, 0)}/a`);
    t.ok(Buffer.compare(other, start) < 0 || Buffer.compare(other, end) >= 0, `another directory's entry is outside (${ino})`);
  }
});
