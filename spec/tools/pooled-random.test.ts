// tools/pooled-random.ts: random bytes drawn from a pool. Every request gets fresh bytes of
// the length asked, none handed out twice (across refills too), and large requests are served
// whole; the pool keeps nothing it handed out.
import t from 'tap';
import { pooledRandom } from '../../tools/pooled-random.js';

t.test('every request gets its own bytes, across refills of the pool', async (t) => {
  const random = pooledRandom();
  const seen = new Set<string>();
  let repeated = 0;
  let wrongLength = 0;
  for (let i = 0; i < 2000; i++) {
    const b = random(16); // 2,000 x 16 bytes: several 4 KiB pools
    if (b.byteLength !== 16) wrongLength++;
    const hex = Buffer.from(b).toString('hex');
    if (seen.has(hex)) repeated++;
    seen.add(hex);
  }
  t.equal(wrongLength, 0, 'each is 16 bytes');
  t.equal(repeated, 0, 'no 16-byte draw repeats');
  t.end();
});

t.test('a request the pool cannot hold is served whole', async (t) => {
  const random = pooledRandom();
  const big = random(10_000);
  t.equal(big.byteLength, 10_000);
  t.ok(big.some((x) => x !== 0), 'random, not zeros');
  t.equal(random(32).byteLength, 32, 'small ones still come from the pool after it');
});

t.test('what was handed out is not kept: changing it does not change later draws', async (t) => {
  const random = pooledRandom();
  const a = random(16);
  a.fill(7);
  const b = random(16);
  t.not(Buffer.from(b).toString('hex'), Buffer.from(a).toString('hex'));
  t.ok(b.some((x) => x !== 7));
});
