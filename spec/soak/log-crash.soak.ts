/**
 * The crash soak: the kill -9 test of spec/log/crash.test.ts with 500 kills (several fresh
 * stores, two in parallel). Not part of `npm test`; run it with `npm run soak`.
 */
import t from 'tap';
import { runCrashCycles } from '../log/helpers/crash-run.js';

const kills = Number(process.env['REALIZE_SOAK_KILLS'] ?? 500);

t.test(`kill -9 ${kills} times at random moments: nothing acknowledged is lost`, { timeout: 3_600_000 }, async (t) => {
  await runCrashCycles(t, { kills, lanes: 2, seed: 19700101 });
});
