// fsx against a real mount: a few thousand seeded random writes, truncates, reads, fsyncs and
// reopens on a few files, each read checked byte for byte against an in-memory model; then the
// server is stopped and started again and every file must still match the model.
// A failure prints the seed: FSX_SEED=<seed> repeats the exact run (FSX_OPS changes its length).
import t from 'tap';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { mountForTest } from './helpers/server.js';
import { fsxSeed, runFsx } from './helpers/fsx.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const { area, restart } = await mountForTest(t, 'fsx');
const OPS = Number(process.env['FSX_OPS'] ?? 2500);

t.test(`fsx: ${OPS} random operations on 3 files`, { timeout: 100_000 }, async (t) => {
  const seed = fsxSeed();
  t.comment(`fsx seed ${seed} (FSX_SEED=${seed} repeats this run)`);
  const started = Date.now();
  const stats = await runFsx({ dir: area, seed, ops: OPS, files: 3, maxSize: 1024 * 1024 });
  t.comment(`${OPS} ops in ${Date.now() - started} ms: ${JSON.stringify(stats.counts)}; ${stats.bytesWritten} bytes written, ${stats.bytesRead} read`);
  t.pass(`seed ${seed}: every read matched the model`);
  t.ok(stats.counts['write']! > OPS / 4 && stats.counts['read']! > OPS / 6, 'the mix has plenty of writes and reads');

  await restart();
  for (const f of stats.files) {
    const got = await readFile(f.path);
    t.ok(got.equals(f.content), `after a restart ${f.path.split('/').pop()} (${f.content.length} bytes) matches the model (seed ${seed})`);
  }
});
