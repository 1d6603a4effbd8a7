/**
 * The child of held-writes.test.ts: opens the store given on the command line, holds the
 * projections' rows for a minute (so nothing it applies after a point is written to LMDB),
 * makes changes, each awaited until its entry is durable in the log, prints what it made as
 * one JSON line, then kills itself with SIGKILL: the log holds every entry, the LMDB
 * environment only those written before the last COUNT or so.
 *
 *   node --import tsx spec/engine/helpers/held-kill-child.ts STORE COUNT
 */
import { Engine } from '../../../engine/index.js';
import { OWNER, testEnv } from './env.js';

const [root, countArg] = process.argv.slice(2);
if (root === undefined || countArg === undefined) {
  process.stderr.write('usage: held-kill-child STORE COUNT\n');
  process.exit(2);
}
// A seed of its own: the ids it makes must not repeat those the parent made with seed 7.
const engine = await Engine.open(root, testEnv(8, 1_800_000_000_000));
const p = engine.projections;
p.holdMs = 60_000;
p.holdEntries = 100_000;
const before = p.head;
const made: Array<{ path: string; mode: number; content?: string }> = [];
await engine.run({ type: 'mkdir', path: '/home/held', mode: 0o755, owner: OWNER });
for (let i = 0; i < 3; i++) {
  const path = `/home/held/data${i}`;
  await engine.run({ type: 'create', path, mode: 0o644, owner: OWNER });
  await engine.write(engine.stat(path).id, 0, Buffer.from(`file ${i}\n`));
  await engine.commit(engine.stat(path).id);
  made.push({ path, mode: 0o644, content: `file ${i}\n` });
}
for (const name of ['f1', 'f2']) {
  await engine.run({ type: 'create', path: `/home/held/${name}`, mode: 0o644, owner: OWNER });
}
await engine.run({ type: 'unlink', path: '/home/held/f1' });
await engine.run({ type: 'rename', from: '/home/held/f2', to: '/home/held/renamed' });
made.push({ path: '/home/held/renamed', mode: 0o644 });
await engine.flush();
// Everything before is written; everything after stays held until the kill.
p.settle();
for (let i = 3; i < 3 + Number(countArg); i++) {
  const path = `/home/held/f${i}`;
  await engine.run({ type: 'create', path, mode: 0o644, owner: OWNER });
  if (i % 3 === 0) {
    await engine.run({ type: 'setattr', id: engine.stat(path).id, mode: 0o600 });
    made.push({ path, mode: 0o600 });
  } else made.push({ path, mode: 0o644 });
}
await engine.flush();
process.stdout.write(`${JSON.stringify({ before, head: p.head, held: p.heldEntries, made })}\n`);
process.kill(process.pid, 'SIGKILL');
