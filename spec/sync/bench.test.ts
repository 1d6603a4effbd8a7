/**
 * `realize bench sync` in-process at a tiny scale: one well-formed JSON row per workload
 * (the harness's seven fields), sane values, and the data removed afterwards. It checks the
 * shape, not the speed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { realize } from '../helpers/run-cli.js';

t.test('bench sync --scale 0.002 --json: one sane row per workload', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-bench-sync-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { code, stdout, stderr } = await realize('bench', 'sync', '--scale', '0.002', '--repeat', '1', '--json', '--dir', dir);
  t.equal(code, 0, `exit 0 (stderr: ${stderr})`);
  const rows = stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(rows.length >= 11, `the workloads against both anchors and the cipher (${rows.length} rows)`);
  for (const row of rows) {
    t.same(Object.keys(row), ['bench', 'workload', 'unit', 'realize', 'anchor', 'anchorValue', 'ratio']);
    t.equal(row['bench'], 'sync');
    t.ok(['MB/s', 'MiB', 'KiB', 's', 'events/s', 'MiB/s'].includes(row['unit'] as string), `unit ${row['unit']}`);
    t.ok(typeof row['realize'] === 'number' && (row['realize'] as number) > 0, `${row['workload']}: realize ${row['realize']}`);
    if (row['anchorValue'] !== null) t.ok((row['anchorValue'] as number) >= 0, `${row['workload']} / ${row['anchor']}: ${row['anchorValue']}`);
  }
  const edit = rows.find((r) => r['workload'] === 'one-byte edit of the big file: bytes on the wire');
  t.ok(edit !== undefined && (edit['realize'] as number) < 1024, 'the one-byte edit ships less than 1 MiB');
  t.same(await readdir(dir), [], 'the data is removed afterwards');
});
