/**
 * Durability under kill -9: a child appends batches to a feed and prints each acknowledged
 * sequence number; it is SIGKILLed at seeded random moments, and after each kill the feed
 * must reopen, verify, and hold every acknowledged entry unchanged (helpers/crash-run.ts).
 * 20 kills here; REALIZE_SOAK=1 makes it 500 (`npm run soak` runs spec/soak/log-crash.soak.ts).
 */
import t from 'tap';
import { runCrashCycles } from './helpers/crash-run.js';

const soak = process.env['REALIZE_SOAK'] === '1';

t.test('kill -9 at random moments loses nothing acknowledged', { timeout: soak ? 3_600_000 : 90_000 }, async (t) => {
  await runCrashCycles(t, { kills: soak ? 500 : 20, lanes: 2, seed: 20240601 });
});
