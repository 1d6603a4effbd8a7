// Small writes answered on the FUSE threads (mount/staged-writes.ts): a write acknowledged to
// the caller is seen at once by every later request that reaches the server (a read that
// bypasses the page cache, a stat after the attributes expired, a rename, fsync), and nothing
// is lost or reordered on the way, including across flushes of the write cache.
//
// The writes and checks run in a child (node, fs only); reads use O_DIRECT, so they are served
// by the server, not by the pages the writes left in the kernel's cache.
import t from 'tap';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mountForTest } from './helpers/server.js';
import { run } from './helpers/proc.js';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
  process.exit(0);
}

const { area } = await mountForTest(t, 'staged-writes');

const CHILD = `
const fs = require('node:fs');
const [path, countArg] = process.argv.slice(1);
const count = Number(countArg);
const piece = (i) => { const b = Buffer.alloc(4096); b.fill(i % 251); b.writeUInt32LE(i, 0); return b; };
const fd = fs.openSync(path, 'w');
const direct = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
const check = Buffer.alloc(4096);
let bad = 0;
for (let i = 0; i < count; i++) {
  fs.writeSync(fd, piece(i), 0, 4096, i * 4096);
  if (i % 97 === 0) {
    // The server must hold this write before it answers anything asked after it.
    const n = fs.readSync(direct, check, 0, 4096, i * 4096);
    if (n !== 4096 || !check.equals(piece(i))) bad++;
  }
}
fs.fsyncSync(fd);
fs.closeSync(fd);
fs.closeSync(direct);
console.log(JSON.stringify({ bad }));
`;

t.test('4 KiB writes are seen by the server before anything asked after them', { timeout: 120_000 }, async (t) => {
  const path = join(area, 'small-writes');
  const count = 12_000; // ~47 MiB: past the 16 MiB a file holds before a flush, twice
  const r = await run(process.execPath, ['-e', CHILD, path, String(count)], { timeoutMs: 110_000 });
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout.trim() || '{}'), { bad: 0 }, 'every write was read back through the server right after it');
  const all = await readFile(path);
  t.equal(all.byteLength, count * 4096, 'the size is every write');
  let wrong = -1;
  for (let i = 0; i < count && wrong < 0; i++) {
    if (all.readUInt32LE(i * 4096) !== i || all[i * 4096 + 4] !== i % 251 || all[i * 4096 + 4095] !== i % 251) wrong = i;
  }
  t.equal(wrong, -1, 'every piece is where it was written, in order');
});
