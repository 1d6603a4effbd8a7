// Durability through the mount: a child writes and fsyncs (files and directory) and reports
// each epoch fsync acknowledged; the serving process is killed with SIGKILL at a random moment
// and its dead mount cleared; after a restart every acknowledged byte must be there. Repeated
// with random kill moments on the same store.
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MountServer, mountLine, scratch } from './helpers/server.js';
import { prng } from './helpers/fsx.js';
import { settleWithin, sleep } from './helpers/proc.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

/**
 * Epoch e: append record e (4 KiB) to the append file, rewrite all 8 chunks (8 KiB) of the
 * overwrite file, create a small file and fsync it, create another, close it and fsync it by
 * a new handle; fsync the append and overwrite files and the directory; then print "ack e". Every byte is a repeat of the tag "r<round>e<epoch>;".
 */
const WRITER = String.raw`
const fs = require('fs');
const path = require('path');
const [dir, round] = process.argv.slice(1);
const rec = (e, len) => { const b = Buffer.alloc(len); const s = 'r' + round + 'e' + e + ';'; for (let i = 0; i < len; i++) b[i] = s.charCodeAt(i % s.length); return b; };
const app = fs.openSync(path.join(dir, 'r' + round + '-append'), 'w');
const over = fs.openSync(path.join(dir, 'r' + round + '-over'), 'w+');
for (let e = 0; ; e++) {
  fs.writeSync(app, rec(e, 4096), 0, 4096, e * 4096);
  for (const c of [3, 0, 6, 1, 7, 2, 5, 4]) fs.writeSync(over, rec(e, 8192), 0, 8192, c * 8192);
  const f = fs.openSync(path.join(dir, 'r' + round + '-f' + e), 'w');
  fs.writeSync(f, rec(e, 100 + e));
  fs.fsyncSync(f);
  fs.closeSync(f);
  // Written and closed first (flushed at close, not yet durable), then fsynced by a new handle.
  fs.writeFileSync(path.join(dir, 'r' + round + '-g' + e), rec(e, 200 + e));
  const g = fs.openSync(path.join(dir, 'r' + round + '-g' + e), 'r');
  fs.fsyncSync(g);
  fs.closeSync(g);
  fs.fsyncSync(app);
  fs.fdatasyncSync(over);
  const d = fs.openSync(dir, 'r');
  fs.fsyncSync(d);
  fs.closeSync(d);
  process.stdout.write('ack ' + e + '\n');
}`;

const tagOf = (b: Buffer): string => b.subarray(0, b.indexOf(0x3b) + 1).toString('latin1');
const uniform = (b: Buffer, tag: string): boolean => {
  for (let i = 0; i < b.length; i++) if (b[i] !== tag.charCodeAt(i % tag.length)) return false;
  return b.length > 0;
};

const s = await scratch('durability');
let server: MountServer | null = null;
t.teardown(async () => {
  await server?.stop();
  await s.remove();
});

const seed = Number(process.env['DURABILITY_SEED'] ?? Date.now() % 100000);
const rnd = prng(seed);
const ROUNDS = 4;

t.test(`SIGKILL of the server at random moments loses nothing fsync acknowledged (seed ${seed})`, { timeout: 110_000 }, async (t) => {
  server = await MountServer.start(s.store, s.mnt);
  await mkdir(join(s.mnt, 'home'));
  const dir = join(s.mnt, 'home');
  for (let round = 0; round < ROUNDS; round++) {
    const writer = spawn(process.execPath, ['-e', WRITER, dir, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    writer.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const writerDone = new Promise<void>((r) => writer.on('close', () => r()));
    // Kill at a random moment once the writer is under way (its first fsync acknowledged).
    for (let waited = 0; !out.includes('ack ') && waited < 15_000; waited += 20) await sleep(20);
    const delay = Math.floor(rnd() * 1500);
    await sleep(delay);
    await server.kill({ leaveMount: true });
    const acked = out.split('\n').filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4)));
    const last = acked.length > 0 ? acked[acked.length - 1]! : -1;
    // The writer meets the dead mount (ENOTCONN) and stops; make sure it does.
    await settleWithin(writerDone, 5000);
    writer.kill('SIGKILL');
    await writerDone;
    t.ok(await mountLine(s.mnt), `round ${round}: the killed server left its mount behind`);

    server = await MountServer.start(s.store, s.mnt);
    t.match(server.stderr, /stale mount/, `round ${round}: the restart cleared the stale mount`);
    t.comment(`round ${round}: killed ${delay} ms after the first acknowledgement, ${last + 1} epochs acknowledged`);
    t.ok(last >= 0, `round ${round}: the writer had fsyncs acknowledged`);

    const app = await readFile(join(dir, `r${round}-append`));
    t.ok(app.length >= (last + 1) * 4096, `round ${round}: the append file holds at least the ${last + 1} acknowledged records (${app.length} bytes)`);
    let bad = -1;
    for (let e = 0; e <= last; e++) if (!uniform(app.subarray(e * 4096, (e + 1) * 4096), `r${round}e${e};`)) bad = bad < 0 ? e : bad;
    t.equal(bad, -1, `round ${round}: every acknowledged append record is intact`);

    const over = await readFile(join(dir, `r${round}-over`));
    t.equal(over.length, 65536, `round ${round}: the overwritten file has its size`);
    const epochs: number[] = [];
    for (let c = 0; c < 8; c++) {
      const chunk = over.subarray(c * 8192, (c + 1) * 8192);
      const tag = tagOf(chunk);
      const e = Number(/^r\d+e(\d+);$/.exec(tag)?.[1] ?? -1);
      epochs.push(uniform(chunk, tag) ? e : -1);
    }
    t.ok(epochs.every((e) => e >= last && e <= last + 1), `round ${round}: every chunk is whole and at least the acknowledged epoch ${last} (${epochs.join(',')})`);

    let missing = 0;
    for (let e = 0; e <= last; e++) {
      const f = join(dir, `r${round}-f${e}`);
      const ok = await readFile(f).then((b) => b.length === 100 + e && uniform(b, `r${round}e${e};`), () => false);
      const g = join(dir, `r${round}-g${e}`);
      const okG = await readFile(g).then((b) => b.length === 200 + e && uniform(b, `r${round}e${e};`), () => false);
      if (!ok || !okG) missing++;
    }
    t.equal(missing, 0, `round ${round}: all ${2 * (last + 1)} acknowledged new files exist with their content (fsynced while open, and after close)`);
    // Earlier rounds are still there too.
    if (round > 0) t.ok((await stat(join(dir, `r${round - 1}-append`))).size > 0, `round ${round}: the previous round's files survive`);
  }
});
