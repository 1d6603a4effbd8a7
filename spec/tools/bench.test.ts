/**
 * The bench harness (tools/bench/, `realize bench`): run in-process at a tiny scale, it
 * prints one well-formed JSON row per workload with sane numbers and the right ratio, cleans
 * up after itself, and refuses bad arguments. It checks the harness, not the speed.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { collectGarbage, MiB, PeakRss } from '../../tools/bench/harness.js';
import { formatTable, toJsonRow } from '../../tools/bench/report.js';
import { realize } from '../helpers/run-cli.js';

const FIELDS = ['bench', 'workload', 'unit', 'realize', 'anchor', 'anchorValue', 'ratio'];



async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-bench-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('bench log --scale 0.01 --json: one sane row per workload', async (t) => {
  const dir = await scratch(t);
  const r = await realize('bench', 'log', '--scale', '0.01', '--json', '--repeat', '1', '--dir', dir);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  t.equal(r.stderr, '', 'nothing on stderr (--json, not a TTY)');
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  t.ok(lines.length >= 5, `at least the 5 workloads of the brief (got ${lines.length})`);
  const workloads = new Set<string>();
  for (const line of lines) {
    const row = JSON.parse(line) as Record<string, unknown>;
    t.same(Object.keys(row), FIELDS, 'the seven fields, in order');
    t.equal(row.bench, 'log');
    t.equal(typeof row.workload, 'string');
    t.ok((row.workload as string).length > 0, 'a workload name');
    workloads.add(row.workload as string);
    t.ok(typeof row.unit === 'string' && ['events/s', 'MiB'].includes(row.unit), `a known unit: ${row.unit}`);
    const isRate = (row.unit as string).endsWith('/s');
    t.equal(typeof row.anchor, 'string');
    // Rates must be positive; a size (memory growth) may be zero at this tiny scale.
    const sane = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && (isRate ? v > 0 : v >= 0);
    const realizeValue = row.realize as number;
    t.ok(sane(realizeValue), `${row.workload}: realize ${realizeValue}`);
    if (row.anchorValue === null) {
      // The anchor is not installed: the row says so and has no ratio.
      t.match(row.anchor, /missing/);
      t.equal(row.ratio, null);
      continue;
    }
    const anchorValue = row.anchorValue as number;
    t.ok(sane(anchorValue), `${row.workload}: anchor ${anchorValue}`);
    if (realizeValue === 0 || anchorValue === 0) {
      t.equal(row.ratio, null, 'no ratio of a zero');
      continue;
    }
    const ratio = row.ratio as number;
    // ratio > 1 means Realize is better: realize/anchor for a rate, anchor/realize for a size.
    const want = isRate ? realizeValue / anchorValue : anchorValue / realizeValue;
    t.ok(Math.abs(ratio - want) <= want * 1e-3, `${row.workload}: ratio ${ratio} = ${isRate ? `${realizeValue}/${anchorValue}` : `${anchorValue}/${realizeValue}`}`);
  }
  t.equal(workloads.size, lines.length, 'no workload twice');
  t.same(await readdir(dir), [], 'the data is removed afterwards');
});

t.test('rows: ratio > 1 means Realize is better, whichever way the unit goes', async (t) => {
  const rate = toJsonRow('x', { workload: 'w', unit: 'events/s', realize: 300, anchor: 'a', anchorValue: 100 });
  t.equal(rate.ratio, 3, 'a rate: realize/anchor');
  const time = toJsonRow('x', { workload: 'w', unit: 's', realize: 2, anchor: 'a', anchorValue: 6 });
  t.equal(time.ratio, 3, 'a time: anchor/realize');
  const size = toJsonRow('x', { workload: 'w', unit: 'MiB', realize: 10, anchor: 'a', anchorValue: 5 });
  t.equal(size.ratio, 0.5, 'a size: anchor/realize');
  const missing = toJsonRow('x', { workload: 'w', unit: 's', realize: 2, anchor: 'a (missing)', anchorValue: null });
  t.equal(missing.ratio, null, 'no anchor, no ratio');
  const table = formatTable('x', 'a test', { rows: [{ workload: 'w', unit: 'events/s', realize: 300, anchor: 'a', anchorValue: 100 }], notes: ['a footnote'] });
  for (const h of ['workload', 'unit', 'realize', 'anchor', 'anchor value', 'ratio']) t.match(table, h, `the table has a ${h} column`);
  t.match(table, /w\s+events\/s\s+300\s+a\s+100\s+3\.00×/, 'one row, side by side');
  t.match(table, /^\* a footnote$/m, 'notes are footnotes');
});

t.test('PeakRss sees memory taken during the window', async (t) => {
  collectGarbage();
  const peak = await PeakRss.start();
  const big = Buffer.alloc(64 * MiB, 1);
  const { peak: bytes, growth } = await peak.stop();
  t.ok(growth >= 32 * MiB, `growth ${(growth / MiB).toFixed(1)} MiB >= 32 MiB`);
  t.ok(bytes >= growth + peak.baseline - 1, 'peak = baseline + growth');
  t.equal(big.byteLength, 64 * MiB);
});

t.test('bad arguments are usage errors', async (t) => {
  const unknown = await realize('bench', 'no-such-bench');
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /no bench named "no-such-bench"; there are: log/);
  const scale = await realize('bench', 'log', '--scale', '0');
  t.equal(scale.code, 2);
  t.match(scale.stderr, /--scale must be a positive number/);
  const repeat = await realize('bench', 'log', '--repeat', '0');
  t.equal(repeat.code, 2);
  t.match(repeat.stderr, /--repeat must be a whole number/);
});
