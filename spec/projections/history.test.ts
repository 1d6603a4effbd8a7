/**
 * A current row's list of changes (history.ts): built change by change, it gives back every
 * position, the first change after any P (walked for short lists, searched for long ones),
 * and undoing the last change gives back the list before it.
 */
import t from 'tap';
import { firstAfter, keyBytes, keyOfBytes, popChange, positions, pushChange } from '../../projections/history.js';
import { mulberry32 } from '../../tools/bench/prng.js';

t.test('lists of changes: every position, the first after P, and undo', async (t) => {
  const rnd = mulberry32(5);
  for (const count of [1, 2, 5, 40, 300]) {
    const ns: number[] = [];
    let n = 1 + Math.floor(rnd() * 5);
    ns.push(n);
    let earlier: Uint8Array | undefined;
    for (let i = 1; i < count; i++) {
      // Mostly small steps, sometimes steps that need several varint bytes.
      const next = n + 1 + Math.floor(rnd() < 0.1 ? rnd() * 100000 : rnd() * 3);
      earlier = pushChange(next, n, earlier);
      n = next;
      ns.push(n);
    }
    t.same(positions(n, earlier).reverse(), ns, `${count} changes: every position`);
    let ok = true;
    for (let p = ns[0]! - 1; p < n; p += Math.max(1, Math.floor((n - ns[0]!) / 500))) {
      const want = ns.find((x) => x > p)!;
      if (firstAfter(n, earlier, p) !== want || firstAfter(n, earlier, p) !== want) ok = false;
    }
    t.ok(ok, `${count} changes: the first change after P, at every P (twice: the second from the decoded list)`);
    let last = n;
    let list = earlier;
    for (let i = ns.length - 2; i >= 0; i--) {
      const before = popChange(last, list)!;
      t.equal(before.n, ns[i], 'undo gives the change before');
      last = before.n;
      list = before.earlier;
    }
    t.equal(popChange(last, list), undefined, 'the first change has none before it');
  }
});

t.test('keys as bytes round-trip: node ids as 16 bytes, any other key as UTF-8', async (t) => {
  const id = '0123456789abcdef'.repeat(2);
  for (const key of [id, `${id}/name ü`, `${id}\0user.x`, 'home', '', 'ABCDEF'.repeat(6), `${id.slice(1)}`]) {
    t.equal(keyOfBytes(keyBytes(key)), key, JSON.stringify(key));
  }
  t.equal(keyBytes(id).length, 17);
});
