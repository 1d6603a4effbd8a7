/**
 * `realize bench model` and `realize bench mount`, run in-process at a tiny scale: each prints
 * one well-formed JSON row per workload (the seven fields, positive figures, the ratio the
 * right quotient), and leaves no mount, no process and no data behind. It checks the benches,
 * not the speed.
 */
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { realize } from '../helpers/run-cli.js';

const FIELDS = ['bench', 'workload', 'unit', 'realize', 'anchor', 'anchorValue', 'ratio'];
const SCALE = '0.002';



async function scratch(t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-bench-mm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Checks every row; returns them. `units` are the units the bench may use. */
function checkRows(t: Test, bench: string, stdout: string, units: readonly string[]): Array<Record<string, unknown>> {
  const rows = stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  for (const row of rows) {
    const name = `${String(row.workload)} [${String(row.anchor)}]`;
    t.same(Object.keys(row), FIELDS, `${name}: the seven fields, in order`);
    t.equal(row.bench, bench);
    t.ok(typeof row.workload === 'string' && row.workload.length > 0, 'a workload name');
    t.ok(typeof row.anchor === 'string' && row.anchor.length > 0, 'an anchor name');
    t.ok(units.includes(row.unit as string), `${name}: a known unit (${String(row.unit)})`);
    const isRate = (row.unit as string).endsWith('/s');
    const realizeValue = row.realize as number;
    const positive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;
    // A growth of memory may round to 0 at this scale; every other figure is positive.
    const sane = (v: unknown): boolean => positive(v) || (!isRate && /growth/.test(row.workload as string) && v === 0);
    t.ok(sane(realizeValue), `${name}: realize ${realizeValue}`);
    if (row.anchorValue === null) {
      t.match(row.anchor, /missing/, `${name}: only a missing anchor has no figure`);
      t.equal(row.ratio, null);
      continue;
    }
    const anchorValue = row.anchorValue as number;
    t.ok(sane(anchorValue), `${name}: anchor ${anchorValue}`);
    if (realizeValue === 0 || anchorValue === 0) {
      t.equal(row.ratio, null, `${name}: no ratio of a zero`);
      continue;
    }
    // ratio > 1 means Realize is better: realize/anchor for a rate, anchor/realize for a size.
    const want = isRate ? realizeValue / anchorValue : anchorValue / realizeValue;
    const ratio = row.ratio as number;
    t.ok(typeof ratio === 'number' && Math.abs(ratio - want) <= want * 1e-3, `${name}: ratio ${ratio} = ${isRate ? `${realizeValue}/${anchorValue}` : `${anchorValue}/${realizeValue}`}`);
  }
  return rows;
}

t.test(`bench model --scale ${SCALE} --json`, async (t) => {
  const dir = await scratch(t);
  const r = await realize('bench', 'model', '--scale', SCALE, '--repeat', '1', '--json', '--dir', dir);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  t.equal(r.stderr, '', 'nothing on stderr');
  const rows = checkRows(t, 'model', r.stdout, ['files/s', 'MB/s', 'events/s', 'MiB']);
  const has = (unit: string, re: RegExp, anchor?: RegExp): boolean => rows.some((x) => x.unit === unit && re.test(x.workload as string) && (anchor === undefined || anchor.test(x.anchor as string)));
  t.ok(has('files/s', /^import tree/, /^cp -a$/), 'tree import, files/s against cp -a');
  t.ok(has('MB/s', /^import tree/, /^cp -a$/), 'tree import, MB/s against cp -a');
  t.ok(has('files/s', /^import tree/, /hyperdrive/), 'tree import, files/s against hyperdrive');
  t.ok(has('MB/s', /^import tree/, /hyperdrive/), 'tree import, MB/s against hyperdrive');
  t.ok(has('files/s', /small files .*alone/), 'small files alone');
  t.ok(has('MB/s', /1 file of .* alone/), 'the large file alone');
  t.ok(has('events/s', /^rebuild/), 'rebuild speed');
  t.ok(has('MiB', /peak RSS/), 'peak RSS at two sizes');
  t.ok(has('MiB', /^rebuild RSS growth/, /^the same at /), "the rebuild's RSS growth at two sizes");
  t.ok(has('MiB', /^rebuild anonymous memory growth/, /^the same at /), "the rebuild's anonymous memory growth at two sizes");
  t.same(await readdir(dir), [], 'the bench removed its data');
});

async function fuseOk(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'not root';
  if (!(await access('/dev/fuse').then(() => true, () => false))) return 'no /dev/fuse';
  return null;
}

const noFuse = await fuseOk();

t.test(`bench mount --scale ${SCALE} --json`, { skip: noFuse === null ? false : `FUSE cannot be mounted here: ${noFuse}` }, async (t) => {
  const dir = await scratch(t);
  const r = await realize('bench', 'mount', '--scale', SCALE, '--repeat', '1', '--json', '--dir', dir);
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr})`);
  t.equal(r.stderr, '', 'nothing on stderr');
  const rows = checkRows(t, 'mount', r.stdout, ['MB/s', 'files/s', 'stats/s', 'entries/s', 'MiB']);
  const against = (re: RegExp, anchor: RegExp): boolean => rows.some((x) => re.test(x.workload as string) && anchor.test(x.anchor as string));
  for (const w of [/^sequential write .*1 MiB/, /^sequential read .*1 MiB/, /^sequential write .*4 KiB/, /^sequential read .*4 KiB/, /^create/, /^stat/, /find/, /^untar/, /^delete/]) {
    t.ok(against(w, /bindfs/), `${w.source}: against bindfs`);
    t.ok(against(w, /plain directory/), `${w.source}: against the plain directory`);
  }
  t.ok(against(/server peak RSS/, /bindfs/), "the server's peak RSS against bindfs's");
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  t.notOk(info.includes(dir), 'nothing is left mounted under the scratch directory');
  t.same(await readdir(dir), [], 'the bench removed its data');
  const ps = await readdir('/proc');
  let left = 0;
  for (const pid of ps.filter((p) => /^\d+$/.test(p))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(dir)) left++;
  }
  t.equal(left, 0, 'no process serving the scratch directory is left');
});
