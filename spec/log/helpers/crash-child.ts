/**
 * The crash-test child: opens the store given on the command line (taking its writer lock,
 * as a real writer would), then appends batches of entries to its own feed forever, keeping
 * up to two batches in flight. For every append that resolves (is durable) it prints
 * "<seq> <hash hex>" on stdout. The parent kills it with SIGKILL at random moments.
 *
 *   node --import tsx spec/log/helpers/crash-child.ts STORE SEED
 */
import { acquireLock } from '../../../engine/store-lock.js';
import { storeLayout } from '../../../engine/store-layout.js';
import { FeedSet, HybridClock, Signer, toHex } from '../../../log/index.js';
import { CRASH_SEGMENT_BYTES, crashKey, eventsFor } from './crash-events.js';
import { seededRandom } from './util.js';

const [root, seedArg] = process.argv.slice(2);
if (root === undefined || seedArg === undefined) {
  process.stderr.write('usage: crash-child STORE SEED\n');
  process.exit(2);
}
const layout = storeLayout(root);
await acquireLock(layout.lock, root);
// A fixed wall clock: the HLC then just counts, deterministically, and stays monotonic
// across restarts because opening the feed folds in its last timestamp.
const clock = new HybridClock(() => 1_700_000_000_000);
const set = await FeedSet.open(layout.feeds, { signer: new Signer(crashKey()), clock, segmentBytes: CRASH_SEGMENT_BYTES });
const feed = await set.own();
let next = feed.length;
process.stdout.write(`ready ${next}\n`);

const rnd = seededRandom(Number(seedArg));
const inFlight: Array<Promise<unknown>> = [];
for (;;) {
  const n = 1 + Math.floor(rnd() * 12);
  const batch: Array<Promise<void>> = [];
  for (let i = 0; i < n; i++) {
    const seq = next++;
    batch.push(
      feed.append(eventsFor(seq)).then((e) => {
        if (e.seq !== seq) {
          process.stderr.write(`crash-child: expected entry ${seq} but the feed gave ${e.seq}\n`);
          process.exit(3);
        }
        process.stdout.write(`${seq} ${toHex(e.hash)}\n`);
      }),
    );
  }
  inFlight.push(Promise.all(batch));
  if (inFlight.length >= 2) await inFlight.shift();
}
