/**
 * `realize bench sync` in-process at a tiny scale: one well-formed JSON row per workload
 * (the harness's seven fields), sane values, and the data removed afterwards. It checks the
 * shape, not the speed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { makeCli } from '../../tools/cli-context.js';
import { main } from '../../tools/main.js';

function capture(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      cb();
    },
  }) as Writable & { text(): string };
  w.text = () => Buffer.concat(chunks).toString('utf8');
  return w;
}

t.test('bench sync --scale 0.002 --json: one sane row per workload', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-bench-sync-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const stdout = capture();
  const stderr = capture();
  const code = await main(['bench', 'sync', '--scale', '0.002', '--repeat', '1', '--json', '--dir', dir], makeCli({ stdout, stderr }));
  t.equal(code, 0, `exit 0 (stderr: ${stderr.text()})`);
  const rows = stdout.text().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
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
