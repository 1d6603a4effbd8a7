/**
 * The fsx soak: spec/mount/fsx.test.ts at length (100k random operations by default, over
 * four files up to 4 MiB, in rounds with a server restart between them, each round checked
 * against the model after the restart). Not part of `npm test`; run it with `npm run soak`.
 * REALIZE_SOAK_FSX_OPS sets the total, FSX_SEED repeats a run.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { mountForTest } from '../mount/helpers/server.js';
import { fsxSeed, runFsx } from '../mount/helpers/fsx.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const total = Number(process.env['REALIZE_SOAK_FSX_OPS'] ?? 100_000);
const rounds = 4;

t.test(`fsx soak: ${total} random operations in ${rounds} rounds`, { timeout: 3_600_000 }, async (t) => {
  const { area, restart } = await mountForTest(t, 'fsx-soak');
  const first = fsxSeed();
  for (let round = 0; round < rounds; round++) {
    const seed = (first + round) >>> 0;
    const started = Date.now();
    const stats = await runFsx({
      dir: area,
      seed,
      ops: Math.ceil(total / rounds),
      files: 4,
      maxSize: 4 * 1024 * 1024,
      maxIo: 256 * 1024,
      progressEvery: 5000,
      onProgress: (n) => t.comment(`seed ${seed}: ${n} ops, ${Math.round((Date.now() - started) / 1000)} s`),
    });
    t.pass(`round ${round + 1}, seed ${seed}: ${stats.ops} ops in ${Math.round((Date.now() - started) / 1000)} s, every read matched (${JSON.stringify(stats.counts)})`);
    await restart();
    for (const f of stats.files) {
      t.ok((await readFile(f.path)).equals(f.content), `seed ${seed}: ${f.path.split('/').pop()} matches the model after a restart`);
    }
  }
});
