/**
 * `realize bench timetravel --scale 0.01 --json`: a quick in-process run (the full size is
 * for `npm run bench`). It checks the shape of the rows and that the numbers are sane, not
 * the speed: one row per query (past vs head), one for history, one for index vs log bytes.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { benches } from '../../tools/bench/index.js';
import { storyEnv } from './helpers/story.js';
import { jsonLines, realize } from './helpers/cli.js';

const FIELDS = ['bench', 'workload', 'unit', 'realize', 'anchor', 'anchorValue', 'ratio'];

t.test('bench timetravel is registered', async (t) => {
  t.ok(benches.get('timetravel'), 'in the registry');
  t.ok(benches.names().includes('timetravel'));
});

t.test('bench timetravel --scale 0.01 --json: one sane row per workload', { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-tt-bench-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { env } = storyEnv();
  const r = await realize(env, join(dir, 'unused-store'), 'bench', 'timetravel', '--scale', '0.01', '--repeat', '1', '--json', '--dir', dir);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  t.equal(r.stderr, '', 'nothing on stderr');
  const rows = jsonLines(r);
  t.equal(rows.length, 5, 'ls, stat, cat, history, index size');
  for (const row of rows) {
    t.same(Object.keys(row), FIELDS, 'the seven fields, in order');
    t.equal(row['bench'], 'timetravel');
    t.ok(typeof row['realize'] === 'number' && (row['realize'] as number) > 0, `${row['workload']}: realize ${row['realize']}`);
    t.ok(typeof row['anchorValue'] === 'number' && (row['anchorValue'] as number) > 0, `${row['workload']}: anchor ${row['anchorValue']}`);
    const ratio = Number(((row['anchorValue'] as number) / (row['realize'] as number)).toPrecision(4));
    t.equal(row['ratio'], ratio, `${row['workload']}: ratio = anchor/realize (lower is better)`);
  }
  const [ls, stat, cat, history, index] = rows;
  t.match(ls, { unit: 'ms', anchor: 'same query at the head', workload: /^ls of a 10-entry directory at a random past position$/ });
  t.match(stat, { unit: 'ms', anchor: 'same query at the head', workload: /^stat of a file at a random past position$/ });
  t.match(cat, { unit: 'ms', anchor: 'same query at the head', workload: /^cat of a 1 MiB file at a random past position$/ });
  t.match(history, { unit: 'ms', anchor: 'scan of the whole log', workload: /^history of a file with 10 versions \(11 items\)$/ });
  t.match(index, { unit: 'MiB', anchor: 'the log on disk (feeds/)', workload: /^index on disk/ });
  t.same(await readdir(dir), [], 'the bench removed its data');
});
