/**
 * The filter of keys written since a sub-database was emptied (projections/written-keys.ts):
 * it never says "not written" of a key that was, says it of nearly every key that was not,
 * and knows nothing (says "maybe" of everything) once it holds more keys than it can tell
 * apart, so memory stays bounded; it grows with the keys it holds (small while they are few).
 */
import t from 'tap';
import { WrittenKeys } from '../../projections/written-keys.js';
import { nid } from '../engine/helpers/given.js';

t.test('an empty filter: no key was written', async (t) => {
  const w = new WrittenKeys();
  t.equal(w.useful, true);
  t.equal(w.mayHave(nid(1)), false);
  t.equal(w.mayHave(42), false);
});

t.test('every key written is "maybe"; keys never written are "no" but for a few', async (t) => {
  const w = new WrittenKeys();
  const strings = Array.from({ length: 20_000 }, (_, i) => `${nid(i)}/${String(i).padStart(12, '0')}`);
  const numbers = Array.from({ length: 20_000 }, (_, i) => i * 7 + 0.5);
  for (const k of strings) w.add(k);
  for (const k of numbers) w.add(k);
  t.equal(strings.filter((k) => !w.mayHave(k)).length, 0, 'no string key written is denied');
  t.equal(numbers.filter((k) => !w.mayHave(k)).length, 0, 'no number key written is denied');
  let wrong = 0;
  for (let i = 0; i < 20_000; i++) if (w.mayHave(`${nid(i + 1_000_000)}/${String(i).padStart(12, '0')}`) || w.mayHave(i * 7 + 3.25)) wrong++;
  t.ok(wrong < 200, `keys never written: ${wrong} of 20,000 pairs said "maybe" (under 1%)`);
});

t.test('past its capacity the filter gives up: every key is "maybe"', async (t) => {
  const w = new WrittenKeys();
  let i = 0;
  while (w.useful) w.add(i++);
  t.ok(i > 100_000, `it held ${i} keys before giving up`);
  t.equal(w.mayHave('never written'), true, 'a key never written: maybe (the reader asks LMDB)');
  t.equal(w.mayHave(0), true);
});

t.test('the filter grows with its keys, in levels, and stays bounded', async (t) => {
  const w = new WrittenKeys();
  t.equal(w.bytes, 0, 'nothing made before the first key');
  for (let i = 0; i < 1000; i++) w.add(`${nid(i)}`);
  t.equal(w.bytes, 16 * 1024, 'a thousand keys: the first level alone (16 KiB)');
  for (let i = 1000; i < 30_000; i++) w.add(`${nid(i)}`);
  t.ok(w.bytes > 16 * 1024 && w.bytes < 512 * 1024, `30,000 keys: ${w.bytes} bytes`);
  for (let i = 0; i < 30_000; i++) if (!w.mayHave(`${nid(i)}`)) t.fail(`key ${i}, written into an older level, is denied`);
  let max = 0;
  let i = 30_000;
  while (w.useful) {
    w.add(i++);
    max = Math.max(max, w.bytes);
  }
  t.ok(max <= 1.5 * 1024 * 1024, `at most ${max} bytes before it gave up`);
  t.equal(w.bytes, 0, 'given up, it lets its levels go');
  t.equal(w.mayHave(`${nid(1)}`), true);
});
