/**
 * `realize bench placement` in-process at a tiny scale: one well-formed JSON row per
 * workload (the harness's seven fields), sane values, and the data removed afterwards. It
 * checks the shape, not the speed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { makeCli } from '../../tools/cli-context.js';
import { main } from '../../tools/main.js';
import { capture } from '../engine/helpers/capture.js';

t.test('bench placement --scale 0.001 --json: one sane row per workload, through the engine and the mount', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-bench-placement-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stdout = capture();
  const stderr = capture();
  const code = await main(['bench', 'placement', '--scale', '0.001', '--repeat', '1', '--json', '--dir', dir], makeCli({ stdout, stderr }));
  t.equal(code, 0, `exit 0 (stderr: ${stderr.text()})`);
  const rows = stdout.text().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(rows.length, 6, 'first byte and streaming (against Real, against a plain read), through the engine and through the mount');
  const fuse = rows[3]!['realize'] !== null;
  for (const [i, row] of rows.entries()) {
    t.same(Object.keys(row), ['bench', 'workload', 'unit', 'realize', 'anchor', 'anchorValue', 'ratio']);
    t.equal(row['bench'], 'placement');
    t.ok(['ms', 'MB/s'].includes(row['unit'] as string), `unit ${row['unit']}`);
    if (i >= 3 && !fuse) {
      t.equal(row['realize'], null, `${row['workload']}: no FUSE here, no figure`);
      continue;
    }
    t.ok(typeof row['realize'] === 'number' && (row['realize'] as number) > 0, `${row['workload']}: realize ${row['realize']}`);
    t.ok(typeof row['anchorValue'] === 'number' && (row['anchorValue'] as number) > 0, `${row['workload']} / ${row['anchor']}: ${row['anchorValue']}`);
    t.ok(typeof row['ratio'] === 'number', 'a ratio');
  }
  t.match(rows[0], { unit: 'ms', workload: /first byte.*engine/ });
  t.match(rows[1], { unit: 'MB/s', anchor: /Real here/ });
  t.match(rows[2], { unit: 'MB/s', anchor: /plain read/ });
  t.match(rows[3], { unit: 'ms', workload: /first byte.*mount/ });
  t.match(rows[4], { unit: 'MB/s', anchor: /Real here, through the mount/ });
  t.match(rows[5], { unit: 'MB/s', anchor: /plain read/ });
  t.same(await readdir(dir), [], 'the data is removed afterwards');
});
