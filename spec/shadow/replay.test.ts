/**
 * Replays into a directory: incremental equals fresh (both modes, over random changes),
 * idempotent (a second replay writes nothing), --verify names each mismatching, missing
 * and extra entry and fails, --at refuses anything but the head, --json is machine-readable.
 */
import fc from 'fast-check';
import { appendFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { replayShadow, verifyShadow, type Engine } from '../../engine/index.js';
import { makeCli } from '../../tools/cli-context.js';
import { main } from '../../tools/main.js';
import { fixedEnv, openStore, OWNER, putFile, readTree, tempDir } from './helpers.js';

type Op =
  | { op: 'file'; dir: number; name: number; data: number; size: number }
  | { op: 'mkdir'; dir: number; name: number }
  | { op: 'symlink'; dir: number; name: number }
  | { op: 'link'; dir: number; name: number; src: number }
  | { op: 'rm'; pick: number }
  | { op: 'rename'; pick: number; dir: number; name: number }
  | { op: 'chmod'; pick: number; mode: number }
  | { op: 'write'; pick: number; data: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('file' as const), dir: fc.nat(), name: fc.nat(6), data: fc.nat(255), size: fc.nat(300_000) }),
  fc.record({ op: fc.constant('mkdir' as const), dir: fc.nat(), name: fc.nat(6) }),
  fc.record({ op: fc.constant('symlink' as const), dir: fc.nat(), name: fc.nat(6) }),
  fc.record({ op: fc.constant('link' as const), dir: fc.nat(), name: fc.nat(6), src: fc.nat() }),
  fc.record({ op: fc.constant('rm' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('rename' as const), pick: fc.nat(), dir: fc.nat(), name: fc.nat(6) }),
  fc.record({ op: fc.constant('chmod' as const), pick: fc.nat(), mode: fc.constantFrom(0o600, 0o644, 0o755, 0o700) }),
  fc.record({ op: fc.constant('write' as const), pick: fc.nat(), data: fc.nat(255) }),
);

function list(engine: Engine, path = '/home'): Array<{ path: string; kind: string }> {
  const out: Array<{ path: string; kind: string }> = [];
  for (const e of engine.readdir(path)) {
    const p = `${path}/${e.name}`;
    out.push({ path: p, kind: e.info.kind });
    if (e.info.kind === 'dir') out.push(...list(engine, p));
  }
  return out;
}

async function apply(engine: Engine, o: Op): Promise<void> {
  const all = list(engine);
  const dirs = ['/home', ...all.filter((e) => e.kind === 'dir').map((e) => e.path)];
  const files = all.filter((e) => e.kind === 'file');
  const dir = dirs[('dir' in o ? o.dir : 0) % dirs.length]!;
  const name = 'name' in o ? `n${o.name}` : '';
  const target = all.length > 0 && 'pick' in o ? all[o.pick % all.length]! : undefined;
  try {
    switch (o.op) {
      case 'file':
        await putFile(engine, `${dir}/${name}`, Buffer.alloc(o.size % 5 === 0 ? 0 : o.size, o.data));
        break;
      case 'mkdir':
        await engine.run({ type: 'mkdir', path: `${dir}/${name}`, mode: 0o755, owner: OWNER });
        break;
      case 'symlink':
        await engine.run({ type: 'symlink', path: `${dir}/${name}`, target: `../${name}`, owner: OWNER });
        break;
      case 'link':
        if (files.length > 0) await engine.run({ type: 'link', path: files[o.src % files.length]!.path, newPath: `${dir}/${name}` });
        break;
      case 'rm':
        if (target) await engine.run(target.kind === 'dir' ? { type: 'rmdir', path: target.path } : { type: 'unlink', path: target.path });
        break;
      case 'rename':
        if (target) await engine.run({ type: 'rename', from: target.path, to: `${dir}/${name}` });
        break;
      case 'chmod':
        if (target) await engine.run({ type: 'setattr', id: engine.stat(target.path).id, mode: o.mode });
        break;
      case 'write':
        if (files.length > 0) {
          const id = engine.stat(files[o.pick % files.length]!.path).id;
          await engine.write(id, 100, Buffer.alloc(10, o.data));
          if (o.data % 2 === 0) await engine.commit(id);
        }
        break;
    }
  } catch {
    // Refused by the decider (exists, not empty, cycle...): nothing happened.
  }
}

const skipState = (rel: string): boolean => rel === '.realize-shadow.json';

for (const mode of ['shadow', 'into'] as const) {
  t.test(`--${mode}: incremental replays equal a fresh replay, after every batch of random changes`, async (t) => {
    const base = await tempDir(t);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 12 }), { minLength: 2, maxLength: 4 }), async (batches) => {
        const { engine } = await openStore(t, fixedEnv(run + 100));
        await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
        const inc = join(base, `inc-${run}`);
        for (const [i, batch] of batches.entries()) {
          for (const o of batch) await apply(engine, o);
          await replayShadow(engine, inc, { mode });
          const fresh = join(base, `fresh-${run}-${i}`);
          await replayShadow(engine, fresh, { mode });
          const meta = mode === 'into';
          const a = await readTree(inc, { meta, skip: skipState });
          const b = await readTree(fresh, { meta, skip: skipState });
          if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`incremental differs from fresh after batch ${i}`);
          t.equal((await readFile(join(inc, '.realize-shadow.json'), 'utf8')), await readFile(join(fresh, '.realize-shadow.json'), 'utf8'), 'same state file');
          const v = await verifyShadow(engine, inc, { mode, parseAll: true });
          if (!v.ok) throw new Error(`verify: ${JSON.stringify(v.mismatches)}`);
          await rm(fresh, { recursive: true });
        }
        // Idempotent: nothing left to write.
        const again = await replayShadow(engine, inc, { mode });
        if (again.written !== 0 || again.removed !== 0) throw new Error(`a second replay wrote ${again.written}, removed ${again.removed}`);
        await engine.close();
        run++;
      }),
      { numRuns: 6 },
    );
    t.pass(`${run} random histories`);
  });
}

async function realize(store: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = { write: (s: string | Uint8Array) => ((stdout += String(s)), true), isTTY: false } as unknown as NodeJS.WritableStream;
  const err = { write: (s: string | Uint8Array) => ((stderr += String(s)), true), isTTY: false } as unknown as NodeJS.WritableStream;
  const code = await main(['--store', store, ...args], makeCli({ env: fixedEnv(3), stdout: out, stderr: err }));
  return { code, stdout, stderr };
}

t.test('--verify names each hand-edited, missing and extra file and exits non-zero', async (t) => {
  const { engine, root } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/home/d', mode: 0o755, owner: OWNER });
  await putFile(engine, '/home/a.txt', 'aaa');
  await putFile(engine, '/home/d/b.txt', 'bbb');
  await putFile(engine, '/home/d/c.txt', 'ccc');
  await engine.close();
  const dir = join(await tempDir(t), 'sh');
  let r = await realize(root, 'log', 'replay', '--shadow', dir);
  t.equal(r.code, 0, r.stderr);
  r = await realize(root, 'log', 'replay', '--shadow', dir, '--verify');
  t.equal(r.code, 0, 'a fresh replay verifies');
  t.match(r.stdout, /^ok: /);
  // Hand edits: a changed value that still parses, a broken file, a removed one, an extra one.
  const a = join(dir, 'home/a.txt');
  await writeFile(a, (await readFile(a, 'utf8')).replace("permissions: '0644'", "permissions: '0777'"));
  await appendFile(join(dir, 'home/d/b.txt'), 'garbage: [\n');
  await rm(join(dir, 'home/d/c.txt'));
  await writeFile(join(dir, 'home/d/extra.yaml'), 'file: {}\n');
  r = await realize(root, 'log', 'replay', '--shadow', dir, '--verify');
  t.equal(r.code, 1, 'exit 1');
  t.match(r.stdout, /differs\s+home\/a\.txt: differs from the log in file\.permissions/);
  t.match(r.stdout, /unparseable home\/d\/b\.txt/);
  t.match(r.stdout, /missing\s+home\/d\/c\.txt/);
  t.match(r.stdout, /extra\s+home\/d\/extra\.yaml/);
  t.match(r.stdout, /4 mismatches/);
  // --json: one object per line, machine-readable.
  r = await realize(root, '--json', 'log', 'replay', '--shadow', dir, '--verify');
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; kind?: string; ok?: boolean });
  t.same(lines.filter((l) => l.event === 'mismatch').map((l) => l.kind).sort(), ['differs', 'extra', 'missing', 'unparseable']);
  t.equal(lines.at(-1)!.ok, false);
  // A replay repairs it all, and touches only what was wrong.
  r = await realize(root, '--json', 'log', 'replay', '--shadow', dir);
  const done = JSON.parse(r.stdout.trim()) as { written: number; removed: number; unchanged: number };
  t.equal(done.written, 3, 'three documents rewritten');
  t.equal(done.removed, 1, 'the extra one removed');
  r = await realize(root, 'log', 'replay', '--shadow', dir, '--verify');
  t.equal(r.code, 0, 'verifies again');
});

t.test('--into --verify catches changed content', async (t) => {
  const { engine, root } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await putFile(engine, '/home/a.txt', 'aaa');
  await engine.close();
  const dir = join(await tempDir(t), 'into');
  t.equal((await realize(root, 'log', 'replay', '--into', dir)).code, 0);
  t.equal((await realize(root, 'log', 'replay', '--into', dir, '--verify')).code, 0);
  await writeFile(join(dir, 'home/a.txt'), 'aab');
  const r = await realize(root, 'log', 'replay', '--into', dir, '--verify');
  t.equal(r.code, 1);
  t.match(r.stdout, /home\/a\.txt/);
});

t.test('usage: --at other than head, a foreign directory, the other mode', async (t) => {
  const { engine, root } = await openStore(t);
  await engine.close();
  const base = await tempDir(t);
  let r = await realize(root, 'log', 'replay', '--shadow', join(base, 'x'), '--at', '12');
  t.equal(r.code, 2);
  t.match(r.stderr, /only the head/);
  await mkdir(join(base, 'foreign'));
  await writeFile(join(base, 'foreign', 'precious'), 'do not delete');
  r = await realize(root, 'log', 'replay', '--shadow', join(base, 'foreign'));
  t.not(r.code, 0);
  t.match(r.stderr, /not empty and holds no earlier replay/);
  t.equal(await readFile(join(base, 'foreign', 'precious'), 'utf8'), 'do not delete');
  t.equal((await realize(root, 'log', 'replay', '--shadow', join(base, 's'))).code, 0);
  r = await realize(root, 'log', 'replay', '--into', join(base, 's'));
  t.match(r.stderr, /holds a --shadow replay/);
  await symlink(join(base, 'foreign'), join(base, 'link'));
  r = await realize(root, 'log', 'replay', '--shadow', join(base, 'link'));
  t.match(r.stderr, /symbolic link/);
});
