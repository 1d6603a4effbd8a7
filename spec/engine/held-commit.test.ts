/**
 * Local entries share one LMDB write transaction held open across them
 * (projections/projection-set.ts applyLocal): reads see each entry at once, a failing entry
 * leaves the ones held before it applied, and a process killed with entries applied but not
 * committed reopens with every durable entry there (open catches the projections up from
 * the log), equal to a rebuild.
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
  engine.projections.holdMs = 60_000;
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  let last = null;
  for (let i = 0; i < 20; i++) {
    const { entry, durable } = await engine.submit({ type: 'create', path: `/home/f${i}`, mode: 0o644, owner: OWNER });
    await durable;
    last = entry;
    t.equal(engine.stat(`/home/f${i}`).kind, 'file', `f${i} is read at once`);
  }
  t.ok(engine.projections.heldEntries >= 20, 'the entries share one open transaction');
  const head = engine.projections.head;

  // An entry out of sequence fails to apply: the transaction is abandoned and the held
  // entries applied again.
  const bad = { ...last!, seq: last!.seq + 5 };
  t.throws(() => engine.projections.applyLocal([bad]), { code: 'BEHIND' }, 'the bad entry is refused');
  t.equal(engine.projections.head, head, 'the head is where it was');
  t.equal(engine.projections.heldEntries, 0, 'nothing is held any more');
  t.same(engine.readdir('/home').map((e) => e.name).sort(), Array.from({ length: 20 }, (_, i) => `f${i}`).sort(), 'every held entry is still applied');

  await engine.run({ type: 'setattr', id: engine.stat('/home/f3').id, mode: 0o600 });
  t.equal(engine.stat('/home/f3').mode, 0o600, 'later entries apply');
  const check = await replayCheck(engine);
  t.ok(check.ok, `a rebuild equals the live projections: ${JSON.stringify(check.projections.filter((p) => !p.same))}`);

  const again = await s.reopen();
  t.equal(again.projections.head, head + 1, 'close commits what is held');
  t.equal(again.stat('/home/f3').mode, 0o600);
});

t.test('kill -9 with entries applied but not committed: reopen catches up from the log', { timeout: 120_000 }, async (t) => {
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
  t.ok(report.held > 200, `the child died holding ${report.held} applied entries`);

  // The LMDB environment alone: behind the log by what was held.
  const lmdb = ProjectionSet.open(storeLayout(s.root).projections, { readOnly: true });
  const committed = lmdb.head;
  await lmdb.close();
  t.equal(committed, report.head - report.held, 'LMDB holds what was committed, nothing held');

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
  t.ok(check.ok, `a rebuild equals the caught-up projections: ${JSON.stringify(check.projections.filter((p) => !p.same))}`);
});
