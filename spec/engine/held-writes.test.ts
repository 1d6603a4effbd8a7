/**
 * Rows of local entries are held in memory across entries and written to LMDB together
 * (projections/held-writes.ts, ProjectionSet.applyLocal): reads (point and range) see each
 * entry at once, an entry that needs LMDB while applied is applied again in a transaction, a
 * failing entry leaves the held ones applied, and a process killed with entries held reopens
 * with every durable entry there (open catches the projections up from the log), equal to a
 * rebuild.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { replayCheck } from '../../engine/replay-check.js';
import { ProjectionSet } from '../../projections/index.js';
import { storeLayout } from '../../engine/store-layout.js';
import { OWNER, openStore } from './helpers/env.js';

const CHILD = fileURLToPath(new URL('./helpers/held-kill-child.ts', import.meta.url));

t.test('held entries are read at once; a failing entry leaves the held ones applied', async (t) => {
  const s = await openStore(t);
  const { engine } = s;
  const p = engine.projections;
  p.holdMs = 60_000;
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/first', mode: 0o644, owner: OWNER });
  p.settle();
  const committed = p.head;
  let last = null;
  for (let i = 0; i < 20; i++) {
    const { entry, durable } = await engine.submit({ type: 'create', path: `/home/f${i}`, mode: 0o644, owner: OWNER });
    await durable;
    last = entry;
    t.equal(engine.stat(`/home/f${i}`).kind, 'file', `f${i} is read at once`);
  }
  t.equal(p.heldEntries, 20, 'the entries are held');
  t.ok(p.held.size > 0, 'their rows are held');

  const other = ProjectionSet.open(storeLayout(s.root).projections, { readOnly: true });
  t.equal(other.head, committed, 'another reader of LMDB sees none of them yet');
  await other.close();

  // An entry out of sequence fails to apply: its writes are taken back, the held ones stay.
  const head = p.head;
  const bad = { ...last!, seq: last!.seq + 5 };
  t.throws(() => p.applyLocal([bad]), { code: 'BEHIND' }, 'the bad entry is refused');
  t.equal(p.head, head, 'the head is where it was');
  t.equal(p.heldEntries, 0, 'the held entries were written');
  t.same(engine.readdir('/home').map((e) => e.name).sort(), ['first', ...Array.from({ length: 20 }, (_, i) => `f${i}`)].sort(), 'every held entry is still applied');

  // A range read (a listing) writes what is held first, then sees it.
  await engine.run({ type: 'create', path: '/home/g0', mode: 0o644, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/g', mode: 0o644, owner: OWNER });
  t.ok(p.heldEntries >= 1, 'the create is held');
  t.ok(engine.readdir('/home').some((e) => e.name === 'g'), 'a listing sees the held entry');
  t.equal(p.heldEntries, 0, 'written before the listing read LMDB');

  // A directory just made has no rows of names to count: its first change is applied with
  // the others, held.
  const retried = (q: typeof p): number => [...q.held.settles].filter(([why]) => why.startsWith('retry')).reduce((a, [, n]) => a + n, 0);
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/g2', mode: 0o644, owner: OWNER });
  const retries = retried(p);
  await engine.run({ type: 'create', path: '/home/d/x', mode: 0o644, owner: OWNER });
  t.equal(retried(p), retries, 'the create in the new directory was not applied again');
  t.ok(p.heldEntries >= 2, 'it is held with the entry before it');
  t.equal(engine.stat('/home/d/x').kind, 'file');
  t.equal(engine.stat('/home/g2').kind, 'file', 'the entry held before it is there');

  // Whether a directory is empty is read from the held rows and LMDB together, without
  // writing the held rows: a name held, a name in LMDB whose removal is held.
  const settled = p.held.settles.get('getRange') ?? 0;
  await engine.run({ type: 'mkdir', path: '/home/e', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/e/y', mode: 0o644, owner: OWNER });
  await t.rejects(engine.run({ type: 'rmdir', path: '/home/e' }), { code: 'NOT_EMPTY' }, 'a directory whose one name is held is not empty');
  await engine.run({ type: 'rmdir', path: '/home/d' }).then(() => t.fail('/home/d holds x'), (err: { code: string }) => t.equal(err.code, 'NOT_EMPTY', 'nor one whose name is in LMDB'));
  p.settle();
  await engine.run({ type: 'create', path: '/home/g3', mode: 0o644, owner: OWNER });
  await engine.run({ type: 'unlink', path: '/home/e/y' });
  t.ok(p.heldEntries >= 2, 'the removal is held');
  await engine.run({ type: 'rmdir', path: '/home/e' });
  t.equal(engine.lookup('/home/e'), undefined, 'a directory whose last name (in LMDB) is removed in a held entry is empty');
  t.equal(p.held.settles.get('getRange') ?? 0, settled, 'none of it wrote the held rows first');

  await engine.run({ type: 'setattr', id: engine.stat('/home/f3').id, mode: 0o600 });
  t.equal(engine.stat('/home/f3').mode, 0o600, 'later entries apply');
  const check = await replayCheck(engine);
  t.ok(check.ok, `a rebuild equals the live projections: ${JSON.stringify(check.projections.filter((x) => !x.same))}`);

  const end = p.head;
  const again = await s.reopen();
  t.equal(again.projections.head, end, 'close writes what is held');
  t.equal(again.stat('/home/f3').mode, 0o600);

  // A directory whose rows must be counted (after a reopen no directory's count is known):
  // its first change reads them by range while applied, so that entry is applied again in a
  // transaction, after the held ones are written.
  const q = again.projections;
  q.holdMs = 60_000;
  await again.run({ type: 'create', path: '/home/g4', mode: 0o644, owner: OWNER }); // /home counted (applied again)
  await again.run({ type: 'create', path: '/home/g5', mode: 0o644, owner: OWNER });
  t.equal(q.heldEntries, 1, 'an entry is held');
  const before = retried(q);
  await again.run({ type: 'create', path: '/home/d/z', mode: 0o644, owner: OWNER });
  t.equal(retried(q), before + 1, 'the create in a directory not counted yet was applied again');
  t.equal(again.stat('/home/d/z').kind, 'file');
  t.equal(again.stat('/home/g5').kind, 'file', 'the entry held before it is there');
  // Counted now: the next change of that directory stays held.
  await again.run({ type: 'create', path: '/home/d/w', mode: 0o644, owner: OWNER });
  t.equal(retried(q), before + 1, 'the next create there was not');
  const check2 = await replayCheck(again);
  t.ok(check2.ok, `a rebuild equals the live projections: ${JSON.stringify(check2.projections.filter((x) => !x.same))}`);
});

t.test('held rows are written after holdMs', async (t) => {
  const s = await openStore(t);
  const p = s.engine.projections;
  p.holdMs = 20;
  await s.engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await s.engine.run({ type: 'create', path: '/home/a', mode: 0o644, owner: OWNER });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(p.heldEntries, 0, 'nothing is held any more');
  t.equal(p.held.size, 0);
  const other = ProjectionSet.open(storeLayout(s.root).projections, { readOnly: true });
  t.equal(other.head, p.head, 'another reader of LMDB sees every entry');
  await other.close();
});

t.test('kill -9 with entries held: reopen catches up from the log', { timeout: 120_000 }, async (t) => {
  const s = await openStore(t, { seed: 7 });
  await s.engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await s.close();

  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, s.root, '200'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const signal = await new Promise<NodeJS.Signals | null>((res) => child.on('exit', (_code, sig) => res(sig)));
  t.equal(signal, 'SIGKILL', `the child killed itself: ${err}`);
  const report = JSON.parse(out.trim().split('\n').pop()!) as { before: number; head: number; held: number; made: Array<{ path: string; mode: number; content?: string }> };
  t.ok(report.held >= 200, `the child died holding ${report.held} applied entries`);

  // The LMDB environment alone: behind the log by what was held.
  const lmdb = ProjectionSet.open(storeLayout(s.root).projections, { readOnly: true });
  const committed = lmdb.head;
  await lmdb.close();
  t.equal(committed, report.head - report.held, 'LMDB holds what was written, nothing held');

  const engine = await s.reopen();
  t.equal(engine.projections.head, report.head, 'open caught the projections up from the log');
  for (const m of report.made) {
    const info = engine.stat(m.path);
    t.equal(info.mode, m.mode, `${m.path} is there with its mode`);
    if (m.content !== undefined) t.equal((await engine.read(info.id, 0, 100)).toString(), m.content, `${m.path} keeps its content`);
  }
  t.equal(engine.lookup('/home/held/f1'), undefined, 'the unlinked file is gone');
  t.equal(engine.lookup('/home/held/f2'), undefined, 'the renamed file left its name');
  const check = await replayCheck(engine);
  t.ok(check.ok, `a rebuild equals the caught-up projections: ${JSON.stringify(check.projections.filter((x) => !x.same))}`);
});
