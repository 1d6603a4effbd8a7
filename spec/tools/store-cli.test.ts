/**
 * The store commands of the `realize` CLI, run in-process (tools/main.ts main() with
 * makeCli's injected env and captured streams): init, id, import, ls, stat, cat, export,
 * gc, log replay --check; their human and --json output; quiet progress with --json; one
 * clear line and a documented exit code for every error.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXIT, main } from '../../tools/main.js';
import { makeCli } from '../../tools/cli-context.js';
import { capture } from '../engine/helpers/capture.js';
import { tempDir, testEnv } from '../engine/helpers/env.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  bytes: Buffer;
}

let runs = 0;

/**
 * Runs `realize ARGS` against `store`; stderr may pretend to be a terminal. Each run is a
 * new process as far as randomness goes: its own seed (the same seed twice would hand out
 * the same node ids again).
 */
async function realize(store: string, args: string[], opts: { tty?: boolean; seed?: number } = {}): Promise<Run> {
  const stdout = capture();
  const stderr = capture({ tty: opts.tty === true });
  const code = await main(['--store', store, ...args], makeCli({ env: testEnv(opts.seed ?? 1000 + runs++), stdout, stderr }));
  return { code, stdout: stdout.text(), stderr: stderr.text(), bytes: stdout.bytes() };
}

function lines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '');
}

/** A store with /home/src imported: hello.txt, bin.dat (not UTF-8), sub/, link -> hello.txt. */
async function populated(t: Test): Promise<{ dir: string; store: string; binary: Buffer }> {
  const dir = await tempDir(t, 'realize-spec-cli-');
  const store = join(dir, 'store');
  const src = join(dir, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'hello.txt'), 'hello\n', { mode: 0o644 });
  const binary = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 10, 13, 0]);
  await writeFile(join(src, 'bin.dat'), binary);
  await symlink('hello.txt', join(src, 'link'));
  t.equal((await realize(store, ['init'])).code, 0);
  t.equal((await realize(store, ['import', src])).code, 0);
  return { dir, store, binary };
}

t.test('init: a new store; never over an existing one', async (t) => {
  const dir = await tempDir(t, 'realize-spec-cli-');
  const store = join(dir, 'store');
  const first = await realize(store, ['init']);
  t.equal(first.code, EXIT.ok);
  t.match(first.stdout, /^initialised store .*\npeer id [0-9a-f]{64}\n$/, 'says where and who');
  const secret = await readFile(join(store, 'identity', 'secret-key'));

  const again = await realize(store, ['init'], { seed: 99 });
  t.equal(again.code, EXIT.store, 'refused: exit 3');
  t.equal(lines(again.stderr).length, 1, 'one line');
  t.match(again.stderr, /^realize: .*already holds a Realize store; refusing to overwrite it\n$/);
  t.ok((await readFile(join(store, 'identity', 'secret-key'))).equals(secret), 'the identity is untouched');

  const busy = join(dir, 'busy');
  await mkdir(busy);
  await writeFile(join(busy, 'something'), 'x');
  const notEmpty = await realize(busy, ['init']);
  t.equal(notEmpty.code, EXIT.store);
  t.match(notEmpty.stderr, /^realize: .*is not empty.*\n$/);

  const json = await realize(join(dir, 'other'), ['--json', 'init']);
  t.equal(json.code, 0);
  const o = JSON.parse(json.stdout) as { store: string; id: string };
  t.same(Object.keys(o), ['store', 'id']);
  t.equal(o.store, join(dir, 'other'));
  t.match(o.id, /^[0-9a-f]{64}$/);
});

t.test('id: the public key, as text or JSON, and the same one init printed', async (t) => {
  const dir = await tempDir(t, 'realize-spec-cli-');
  const store = join(dir, 'store');
  const init = await realize(store, ['--json', 'init']);
  const { id } = JSON.parse(init.stdout) as { id: string };
  const human = await realize(store, ['id']);
  t.equal(human.code, 0);
  t.equal(human.stdout, `${id}\n`, 'just the key');
  const json = await realize(store, ['--json', 'id']);
  t.same(JSON.parse(json.stdout), { id });
  t.equal(json.stderr, '');
});

t.test('ls, stat, cat: human output and --json shapes', async (t) => {
  const { store, binary } = await populated(t);

  const areas = await realize(store, ['ls']);
  t.equal(areas.code, 0);
  t.match(areas.stdout, /^drwxr-xr-x +\d+ +\d+ +\d+ +4096 \d{4}-\d\d-\d\dT[\d:.]+Z home\n$/, 'ls /: one row per area');

  const ls = await realize(store, ['ls', '/home/src']);
  const rows = lines(ls.stdout);
  t.same(rows.map((r) => r.split(' -> ')[0]!.split(/\s+/).at(-1)), ['bin.dat', 'hello.txt', 'link', 'sub'], 'entries in name order');
  t.match(rows[0]!, /^-rw-r--r-- +1 +\d+ +\d+ +9 /, 'mode, links, owner, size');
  t.match(rows[2]!, /^lrwxrwxrwx .* link -> hello.txt$/, 'a symlink shows its target');
  t.match(rows[3]!, /^drwxr-xr-x +2 /, 'a directory');

  const lsJson = await realize(store, ['--json', 'ls', '/home/src']);
  const objs = lines(lsJson.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(objs.length, 4, 'one JSON object per line');
  t.same(Object.keys(objs[1]!), ['name', 'kind', 'mode', 'nlink', 'uid', 'gid', 'size', 'mtime', 'ino']);
  t.same(Object.keys(objs[2]!), ['name', 'kind', 'mode', 'nlink', 'uid', 'gid', 'size', 'mtime', 'ino', 'target']);
  t.match(objs[1], { name: 'hello.txt', kind: 'file', mode: '0644', nlink: 1, size: 6 });
  t.match(objs[2], { name: 'link', kind: 'symlink', target: 'hello.txt', size: 9 });
  t.match(objs[3], { name: 'sub', kind: 'dir', nlink: 2 });
  t.match(String(objs[1]!['mtime']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'times as ISO 8601');

  const one = await realize(store, ['ls', '/home/src/hello.txt']);
  t.equal(lines(one.stdout).length, 1, 'ls of a file: that one row');

  const st = await realize(store, ['stat', '/home/src/hello.txt']);
  t.equal(st.code, 0);
  t.match(st.stdout, /path: \/home\/src\/hello\.txt\n/);
  t.match(st.stdout, /kind: file {2}mode: -rw-r--r-- \(0644\)/);
  t.match(st.stdout, /size: 6 \(6 B logical, 6 B stored in 1 blocks\)/);
  t.match(st.stdout, /version: [0-9a-f]{64}\n/, 'imported files are committed');

  const stJson = await realize(store, ['--json', 'stat', '/home/src/hello.txt']);
  const s = JSON.parse(stJson.stdout) as Record<string, unknown>;
  t.same(Object.keys(s), ['path', 'id', 'ino', 'kind', 'mode', 'uid', 'gid', 'nlink', 'size', 'stored', 'blocks', 'atime', 'mtime', 'ctime', 'version', 'pending', 'area']);
  t.match(s, { path: '/home/src/hello.txt', kind: 'file', mode: '0644', size: 6, stored: 6, blocks: 1, pending: 0, area: 'home' });
  t.match(String(s['id']), /^[0-9a-f]{32}$/);
  const link = JSON.parse((await realize(store, ['--json', 'stat', '/home/src/link'])).stdout) as Record<string, unknown>;
  t.equal(link['target'], 'hello.txt');
  t.equal(link['version'], null, 'a symlink has no content version');

  const cat = await realize(store, ['cat', '/home/src/hello.txt']);
  t.equal(cat.code, 0);
  t.equal(cat.stdout, 'hello\n', 'the bytes, nothing else');
  const bin = await realize(store, ['cat', '/home/src/bin.dat']);
  t.ok(bin.bytes.equals(binary), 'binary content comes out byte for byte');
  const catDir = await realize(store, ['cat', '/home/src/sub']);
  t.equal(catDir.code, EXIT.usage, 'cat of a directory: usage error');
  t.equal(catDir.stderr, 'realize: /home/src/sub is not a regular file\n');
});

t.test('import: progress on a terminal, nothing but one JSON line with --json', async (t) => {
  const dir = await tempDir(t, 'realize-spec-cli-');
  const src = join(dir, 'src');
  await mkdir(src);
  for (let i = 0; i < 20; i++) await writeFile(join(src, `f${i}`), `file ${i}`);
  const store = join(dir, 'store');
  await realize(store, ['init']);
  const human = await realize(store, ['import', src, '/a'], { tty: true });
  t.equal(human.code, 0);
  t.match(human.stderr, /importing: \d+ files/, 'a progress line on the terminal');
  t.match(human.stdout, /^imported .* as \/a\/src: 20 files, 1 directories, 0 symlinks, .* in [\d.]+ s\n$/, 'into the new area /a, under its own name');

  const json = await realize(store, ['--json', 'import', src, '/b'], { tty: true });
  t.equal(json.code, 0);
  t.equal(json.stderr, '', 'no progress, no escape codes with --json');
  t.equal(lines(json.stdout).length, 1, 'one line');
  const r = JSON.parse(json.stdout) as Record<string, unknown>;
  t.match(r, { dest: '/b/src', files: 20, dirs: 1, symlinks: 0, skipped: [] });
  t.same((await realize(store, ['--json', 'ls', '/b/src'])).stdout.split('\n').filter(Boolean).length, 20, 'and the files are there');
  t.equal(typeof r['seconds'], 'number');

  const quiet = await realize(store, ['import', src, '/c'], { tty: false });
  t.equal(quiet.stderr, '', 'no progress when stderr is not a terminal');
});

t.test('bad paths: one clear line; exit 2 for a path that cannot be, 3 for one that is not there', async (t) => {
  const { store } = await populated(t);
  for (const [args, what, code] of [
    [['ls', '/a/../b'], '".." cannot be a name', EXIT.usage],
    [['stat', '/home/./src'], '"." cannot be a name', EXIT.usage],
    [['cat', `/home/${'x'.repeat(300)}`], 'at most 255 bytes', EXIT.usage],
    [['ls', '/home/nope'], 'no such file or directory: /home/nope', EXIT.store],
    [['ls', '/home/src/hello.txt/x'], 'is not a directory', EXIT.store],
    [['import', '/definitely/not/here'], 'cannot read /definitely/not/here', EXIT.store],
    [['export', '/tmp', '/home/src/hello.txt'], 'is not a directory', EXIT.store],
  ] as Array<[string[], string, number]>) {
    const r = await realize(store, args);
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`);
    t.equal(lines(r.stderr).length, 1, `${args.join(' ')}: one line: ${r.stderr.trim()}`);
    t.match(r.stderr, /^realize: /);
    t.ok(r.stderr.includes(what), `says ${what}`);
    t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  const debug = await realize(store, ['--debug', 'ls', '/a/../b']);
  t.match(debug.stderr, /\n\s+at /, '--debug adds the stack trace');
  const usage = await realize(store, ['gc', '--keep-versions', 'many']);
  t.equal(usage.code, EXIT.usage, 'a bad option value: exit 2');
  t.match(usage.stderr, /not a sequence number: many/);
  t.equal((await realize(store, ['no-such-command'])).code, EXIT.usage, 'an unknown command: exit 2');
});

t.test('a directory that is not a store: exit 3 and a clear message', async (t) => {
  const dir = await tempDir(t, 'realize-spec-cli-');
  const plain = join(dir, 'plain');
  await mkdir(plain);
  await writeFile(join(plain, 'notes.txt'), 'not a store');
  for (const args of [['ls'], ['id'], ['stat', '/'], ['log', 'replay', '--check'], ['gc']]) {
    const r = await realize(plain, args);
    t.equal(r.code, EXIT.store, `${args.join(' ')}: exit 3`);
    t.equal(r.stderr, `realize: ${plain} is not a Realize store (no realize-store.json; create one with \`realize init\`).\n`);
  }
  const missing = await realize(join(dir, 'missing'), ['ls']);
  t.equal(missing.code, EXIT.store);
  t.match(missing.stderr, /is not a Realize store/);
  await writeFile(join(plain, 'realize-store.json'), '{ not json');
  const damaged = await realize(plain, ['ls']);
  t.equal(damaged.code, EXIT.store);
  t.match(damaged.stderr, /realize-store\.json is damaged \(not JSON\)/);
  await writeFile(join(plain, 'realize-store.json'), JSON.stringify({ format: 'something-else', version: 1 }));
  t.match((await realize(plain, ['ls'])).stderr, /names another format/);
});

t.test('log replay --check and gc through the CLI', async (t) => {
  const { store } = await populated(t);
  const check = await realize(store, ['log', 'replay', '--check']);
  t.equal(check.code, 0);
  t.match(check.stdout, /^same {2}tree /m);
  t.match(check.stdout, /^replayed \d+ entries in/m);
  const json = await realize(store, ['--json', 'log', 'replay', '--check']);
  const objs = lines(json.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.ok(objs.slice(0, -1).every((o) => o['same'] === true && typeof o['name'] === 'string'), 'every projection the same');
  t.match(objs.at(-1), { ok: true });
  const gc = await realize(store, ['--json', 'gc']);
  t.equal(gc.code, 0);
  t.match(JSON.parse(gc.stdout), { freedBlocks: 0, packsRewritten: 0 }, 'default retention: nothing freed');
  const cat = await realize(store, ['cat', '/home/src/hello.txt']);
  t.equal(cat.stdout, 'hello\n', 'still readable after gc');
});
