/**
 * `history`, `diff`, `log show` filters, `restore` and the errors of positions that do not
 * exist, on the known history of helpers/story.ts (positions as numbered there).
 */
import t from 'tap';
import { NOTES_V1, NOTES_V2, STEP_MS, T0, writeStory } from './helpers/story.js';
import { jsonLines, realize, realizeOk } from './helpers/cli.js';

const story = await writeStory(t);
const { env, root, steps, publicKey } = story;
const head = steps.length - 1;
story.clock.t = steps[head]!.time + 90_000;
const HOME = `${publicKey}.home`;
const WORK = `${publicKey}.work`;
const cli = (...args: string[]) => realize(env, root, ...args);
const json = async (...args: string[]) => jsonLines(await realizeOk(env, root, '--json', ...args));
const iso = (n: number) => new Date(steps[n]!.time).toISOString();

interface Item {
  position: number;
  time: number;
  feed: string;
  seq: number;
  author: string;
  events: string[];
  id: string;
  path: string | null;
  kind: string;
  size: number | null;
  hash: string | null;
  exists: boolean;
}

await story.close();

t.test('history PATH: newest first, following renames, deletes and re-creates', async (t) => {
  const items = (await json('history', '/home/papers/a.txt')) as unknown as Item[];
  const positions = items.map((i) => i.position);
  t.same(positions, [...positions].sort((a, b) => b - a), 'newest first');
  const ids = [...new Set(items.map((i) => i.id))];
  t.equal(ids.length, 2, 'two nodes held the name: the one there now, and the one it replaced');
  const [now, before] = ids;
  const of = (id: string) => items.filter((i) => i.id === id);
  // The node now at a.txt was created as c.txt (29), written, committed, touched (38), renamed over a.txt (45).
  t.same(of(now!).map((i) => [i.position, i.events.join(','), i.path, i.size]), [
    [45, 'rename', '/home/papers/a.txt', 11],
    [38, 'setattr', '/home/papers/c.txt', 11],
    [31, 'commit', '/home/papers/c.txt', 11],
    [30, 'write', '/home/papers/c.txt', 11],
    [29, 'create', '/home/papers/c.txt', 0],
  ]);
  // The first a.txt: created in docs, edited, hard-linked, xattrs, truncated, its other name moved, replaced (45).
  t.same(of(before!).map((i) => [i.position, i.events.join(','), i.size]), [
    [45, '', 3],
    [44, 'rename', 3],
    [35, 'setxattr', 3],
    [34, 'removexattr', 3],
    [33, 'commit', 3],
    [32, 'truncate', 3],
    [17, 'setxattr', 12],
    [16, 'link', 12],
    [13, 'commit', 12],
    [12, 'write', 12],
    [6, 'commit', 6],
    [5, 'write', 6],
    [4, 'create', 0],
  ]);
  t.same(of(before!).filter((i) => i.position <= 17).map((i) => i.path), Array(7).fill('/home/docs/a.txt'), 'under its old directory name before the directory was renamed');
  t.same(of(before!).filter((i) => i.position >= 32 && i.position <= 44).map((i) => i.path), Array(5).fill('/home/papers/a.txt'), 'and under the new one after');
  const replaced = of(before!)[0]!;
  t.equal(replaced.exists, true, '@45: replaced at a.txt, it lives on under its other name (hard2.txt)');
  t.ok(replaced.path === null || replaced.path === '/home/papers/hard2.txt', `@45 path ${replaced.path}`);
  for (const i of items) {
    const step = steps[i.position]!;
    t.equal(i.time, T0 + i.position * STEP_MS, `@${i.position}: the entry's time`);
    t.equal(i.feed, HOME);
    t.equal(i.seq, step.seq, `@${i.position}: seq ${step.seq} of the home feed`);
    t.equal(i.author, publicKey, 'the author');
    t.equal(i.kind, 'file');
    t.match(i.hash, /^[0-9a-f]{64}$/, 'a content hash');
  }
  // The hash of a committed position is the version stat showed at it.
  for (const p of [6, 13, 31, 33]) {
    const item = items.find((i) => i.position === p)!;
    const st = JSON.parse((await realizeOk(env, root, '--json', 'stat', item.path!, '--at', `@${p}`)).stdout) as { version: string; size: number };
    t.equal(item.hash, st.version, `@${p}: hash = the version stat shows`);
    t.equal(item.size, st.size);
  }
  t.not(items.find((i) => i.position === 6)!.hash, items.find((i) => i.position === 13)!.hash, 'new content, new hash');

  const human = await realizeOk(env, root, 'history', '/home/papers/a.txt');
  const lines = human.stdout.trimEnd().split('\n');
  t.equal(lines.length, items.length, 'one line per item');
  t.match(lines[0], new RegExp(`^@45  2026-03-10T09:45:00\\.000Z  ${publicKey.slice(0, 8)}  rename\\s+11  [0-9a-f]{16}  /home/papers/a\\.txt$`), 'position, time, author, events, size, hash, path');
  t.match(lines.at(-1), /^@4  2026-03-10T09:04:00\.000Z  .* create .* \/home\/docs\/a\.txt$/);
});

t.test('history of a deleted and re-created name shows the delete', async (t) => {
  const items = (await json('history', '/home/papers/c.txt')) as unknown as Item[];
  t.same(items.map((i) => [i.position, i.events.join(','), i.exists]), [
    [45, 'rename', true],
    [38, 'setattr', true],
    [31, 'commit', true],
    [30, 'write', true],
    [29, 'create', true],
    [28, 'unlink', false],
    [20, 'rename', true],
    [19, 'setattr', true],
    [18, 'setattr', true],
    [14, 'commit', true],
    [8, 'write', true],
    [7, 'create', true],
  ]);
  t.equal(items.find((i) => i.position === 28)!.path, null, '@28: deleted, no name');
  t.equal(items.find((i) => i.position === 19)!.path, '/home/docs/b.txt', 'b.txt before it was renamed to c.txt');
  t.equal(items.find((i) => i.position === 20)!.path, '/home/docs/c.txt');
  t.equal(new Set(items.filter((i) => i.position <= 28).map((i) => i.id)).size, 1, 'one node up to the delete');
  t.not(items[0]!.id, items.at(-1)!.id, 'another node after');

  const link = (await json('history', '/home/link')) as unknown as Item[];
  t.same(link.map((i) => [i.position, i.events.join(','), i.kind, i.exists, i.size, i.hash]), [
    [37, 'symlink', 'symlink', true, null, null],
    [36, 'unlink', 'symlink', false, null, null],
    [15, 'symlink', 'symlink', true, null, null],
  ], 'a symlink replaced by another');

  const dir = (await json('history', '/home/papers')) as unknown as Item[];
  t.same(dir.at(-1), { ...dir.at(-1), position: 3, events: ['mkdir'], path: '/home/docs', kind: 'dir' }, 'the directory was made as docs');
  t.ok(dir.some((i) => i.position === 25 && i.events.join() === 'rename' && i.path === '/home/papers'), 'renamed to papers at 25');
  t.ok(dir.some((i) => i.position === 47 && i.events.join() === 'setattr'), 'chmod at 47');
});

t.test('history of a path that never existed', async (t) => {
  const r = await cli('history', '/home/never.txt');
  t.equal(r.code, 3, 'exit 3');
  t.match(r.stderr, /^realize: \/home\/never\.txt has no history here/);
  t.equal(r.stdout, '');
});

t.test('diff A B: one line per change, renames as renames', async (t) => {
  const diff = async (...args: string[]) => (await realizeOk(env, root, 'diff', ...args)).stdout.trimEnd().split('\n').filter((l) => l !== '');
  t.same(await diff('@3', '@4'), ['+\t/home/docs/a.txt'], 'a create');
  t.same(await diff('@4', '@6'), ['M\t/home/docs/a.txt'], 'a write and its commit');
  t.same(await diff('@12', '@13'), [], 'a commit of what was already read changes nothing');
  t.same(await diff('@15', '@16'), ['+\t/home/hard.txt'], 'a hard link is a new name');
  t.same(await diff('@16', '@17'), ['m\t/home/docs/a.txt'], 'an xattr is metadata');
  t.same(await diff('@17', '@19'), ['m\t/home/docs/b.txt'], 'chmod, chown');
  t.same(await diff('@19', '@20'), ['R\t/home/docs/b.txt -> /home/docs/c.txt'], 'a file rename');
  t.same(await diff('@24', '@25'), ['R\t/home/docs -> /home/papers'], 'a directory rename: the directory, not what it holds');
  t.same(await diff('@27', '@29'), ['-\t/home/papers/c.txt', '+\t/home/papers/c.txt'], 'a delete and re-create: two nodes');
  t.same(await diff('@35', '@37'), ['-\t/home/link', '+\t/home/link'], 'a symlink replaced');
  t.same(await diff('@37', '@38'), ['m\t/home/papers/c.txt'], 'utimes');
  t.same(await diff('@38', '@40'), ['-\t/home/papers/sub', '-\t/home/papers/sub/deep.txt'], 'a file and its directory removed');
  t.same(await diff('@43', '@44'), ['R\t/home/hard.txt -> /home/papers/hard2.txt'], 'a hard link renamed');
  t.same(await diff('@44', '@45'), ['-\t/home/papers/a.txt', 'R\t/home/papers/c.txt -> /home/papers/a.txt'], 'a rename over a file');
  t.same(await diff('@46', '@47'), ['m\t/home/papers'], 'directory metadata');
  t.same(await diff('@19', '@22'), ['R\t/home/docs/b.txt -> /home/docs/c.txt', '+\t/home/docs/sub', '+\t/home/docs/sub/deep.txt'], 'several changes, in path order');
  t.same(await diff('@11', '@14', '/home/docs'), ['M\t/home/docs/a.txt'], 'PATH limits it (b.txt was read as written before its commit)');
  t.same(await diff('@0', '@52', '/work'), ['+\t/work', '+\t/work/big.bin', '+\t/work/empty'], 'everything below PATH is new');
  t.same(await diff('@47'), ['+\t/home/notes.txt'], 'B defaults to the head');
  t.same(await diff('@52', '@49'), ['M\t/home/notes.txt'], 'backwards works too');
  t.same(await diff('@51', '@52'), [], 'a commit of a pending write read the same bytes before');
  t.same(await diff('-33m', '-29m', '/home'), ['+\t/home/docs/sub', '+\t/home/docs/sub/deep.txt'], 'relative times as A and B (-33m: @20, -29m: @24)');
  t.same(await diff('@20', '@20'), [], 'a position against itself');

  const changes = await json('diff', '@24', '@25');
  t.same(changes.map((c) => ({ kind: c['kind'], from: c['from'], path: c['path'], nodeKind: c['nodeKind'] })), [{ kind: 'renamed', from: '/home/docs', path: '/home/papers', nodeKind: 'dir' }]);
  const modRename = await json('diff', '@29', '@45', '/home/papers');
  const c2 = modRename.find((c) => c['kind'] === 'renamed');
  t.same({ from: c2?.['from'], path: c2?.['path'], modified: c2?.['modified'] }, { from: '/home/papers/c.txt', path: '/home/papers/a.txt', modified: true }, 'renamed and modified');
});

t.test('diff --stat and --patch', async (t) => {
  const s = await json('diff', '@0', '--stat');
  t.same(s, [{ from: 0, to: head, added: 10, removed: 0, modified: 0, renamed: 0, metadata: 0 }]);
  const s2 = await json('diff', '@24', '@45', '--stat');
  t.same(s2, [{ from: 24, to: 45, added: 3, removed: 5, modified: 1, renamed: 2, metadata: 0 }]);
  const human = await realizeOk(env, root, 'diff', '@24', '@45', '--stat');
  t.equal(human.stdout, '11 changes: 3 added, 5 removed, 1 modified, 2 renamed, 0 metadata only\n');

  const patch = (await realizeOk(env, root, 'diff', '@49', '@52', '--patch')).stdout;
  t.match(patch, /^M\t\/home\/notes\.txt\n/);
  t.match(patch, /--- a\/home\/notes\.txt\t@49\n\+\+\+ b\/home\/notes\.txt\t@52\n/);
  t.match(patch, /\n one\n-two\n\+2\n three\n four\n\+five\n/, 'the changed lines');
  t.equal(NOTES_V2.split('\n').length, 6);
  t.equal(NOTES_V1.split('\n').length, 5);
  const renamed = (await realizeOk(env, root, 'diff', '@29', '@45', '/home/papers', '--patch')).stdout;
  t.match(renamed, /R\t\/home\/papers\/c\.txt -> \/home\/papers\/a\.txt \(modified\)\n[^]*--- a\/home\/papers\/c\.txt\t@29\n\+\+\+ b\/home\/papers\/a\.txt\t@45\n[^]*\+charlie v2\n/, 'a renamed and modified file, patched');
  const binary = (await realizeOk(env, root, 'diff', '@25', '@27', '/work', '--patch')).stdout;
  t.equal(binary, 'M\t/work/big.bin\nBinary files differ\n');
});

t.test('log show filters: --path (across renames), --peer, --feed, --since, --until', async (t) => {
  const seqsOf = (rows: Array<Record<string, unknown>>) => rows.map((r) => `${r['feed'] === HOME ? 'home' : 'work'}#${r['seq']}`).sort();
  const stepsAt = (ns: number[]) => ns.map((n) => `${steps[n]!.feed === HOME ? 'home' : 'work'}#${steps[n]!.seq}`).sort();
  t.same(seqsOf(await json('log', 'show', '--path', '/home/notes.txt')), stepsAt([48, 49, 50, 51, 52]));
  t.same(
    seqsOf(await json('log', 'show', '--path', '/home/papers/a.txt')),
    stepsAt([4, 5, 6, 12, 13, 16, 17, 32, 33, 34, 35, 44, 29, 30, 31, 38, 45]),
    'the entries of both nodes that held the name, under any of their names',
  );
  t.same(seqsOf(await json('log', 'show', '--path', '/home/papers/c.txt')), stepsAt([7, 8, 14, 18, 19, 20, 28, 29, 30, 31, 38, 45]), 'deleted and re-created');
  const all = stepsAt(steps.slice(1).map((s) => s.n));
  t.same(seqsOf(await json('log', 'show', '--peer', publicKey.slice(0, 8))), all, '--peer: every entry is ours');
  const other = `${publicKey[0] === 'f' ? '0' : 'f'}${publicKey.slice(1, 8)}`;
  t.same(await json('log', 'show', '--peer', other), [], '--peer of another key: none');
  t.same(seqsOf(await json('log', 'show', '--feed', WORK)), stepsAt([2, 9, 10, 11, 26, 27, 46]), '--feed');
  t.same(seqsOf(await json('log', 'show', '--since', iso(10), '--until', iso(20))), stepsAt([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]), '--since (inclusive) --until (exclusive)');
  t.same(seqsOf(await json('log', 'show', '--since', '-4m')), stepsAt([50, 51, 52]), '--since -4m');
  t.same(seqsOf(await json('log', 'show', '--until', new Date(steps[3]!.time + 1).toISOString())), stepsAt([1, 2, 3]), '--until just after @3');
  t.same(seqsOf(await json('log', 'show', '--path', '/home/papers/a.txt', '--since', iso(30), '--until', iso(40))), stepsAt([30, 31, 32, 33, 34, 35, 38]), 'filters combine');
  for (const bad of ['--since', '--until']) {
    const r = await cli('log', 'show', bad, 'whenever');
    t.equal(r.code, 2, `${bad} whenever: exit 2`);
    t.match(r.stderr, /^realize: not a time: whenever/);
  }
  const r = await cli('log', 'show', '--since', '@3');
  t.equal(r.code, 2, '--since @3 (not a time): exit 2');
  t.match(r.stderr, /^realize: not a time: @3/);
});

t.test('positions that do not exist: a clear error, exit 2, for every command that takes one', async (t) => {
  const bad: Array<[string, RegExp]> = [
    [`@${head + 1}`, new RegExp(`no position @${head + 1}: the log holds @0 to @${head}`)],
    ['@100000000', /no position @100000000/],
    ['2026-03-10T08:00:00Z', /2026-03-10T08:00:00Z is before the log begins \(2026-03-10T09:01:00\.000Z\)/],
    ['-1d', /-1d is before the log begins/],
    ['2026-03-10T12:00:00Z', /2026-03-10T12:00:00Z is in the future/],
    ['2099-01-01', /2099-01-01 is in the future/],
    ['nosuchtag', /no tag or position named nosuchtag/],
    ['abcdef12:3', /no feed's name starts with abcdef12/],
    [`${publicKey.slice(0, 8)}:1`, new RegExp(`${publicKey.slice(0, 8)} names 2 feeds; give more of the name`)],
    [`${HOME}:99`, new RegExp(`feed ${publicKey.slice(0, 16)}… has no entry 99 \\(it holds 45\\)`)],
    ['@-1', /not a position: "@-1"/],
    ['@1x', /not a position: "@1x"/],
    ['!!', /not a position: "!!" \(try head, @N/],
    ['2026-13-45', /not a date: 2026-13-45/],
    ['today 7pm', /not a time of day: 7pm/],
  ];
  const commands: string[][] = [['ls', '/'], ['tree', '/'], ['stat', '/home'], ['cat', '/home/notes.txt'], ['diff'], ['restore', '/home/notes.txt'], ['tag', 'newtag']];
  for (const [pos, message] of bad) {
    for (const c of commands) {
      const args = c[0] === 'diff' ? ['diff', pos, 'head'] : c[0] === 'tag' ? [...c, pos] : [...c, '--at', pos];
      const r = await cli(...args);
      t.equal(r.code, 2, `${args.join(' ')}: exit 2`);
      t.match(r.stderr, new RegExp(`^realize: ${message.source}`), `${args.join(' ')}: says why`);
      t.equal(r.stdout, '', 'prints nothing else');
    }
  }
  const d = await cli('diff', '@1', `@${head + 5}`);
  t.equal(d.code, 2, 'diff with a bad B');
  t.equal((await cli('tag')).stdout, '', 'no tag was written by the failures');
  // A path that did not exist at a position that does: exit 3.
  const s = await cli('stat', '/home/notes.txt', '--at', '@47');
  t.equal(s.code, 3, 'stat of a path not there yet: exit 3');
  t.match(s.stderr, /^realize: no such file or directory: \/home\/notes\.txt/);
  const ls = await cli('ls', '/home/papers', '--at', '@24');
  t.equal(ls.code, 3);
  t.match(ls.stderr, /no such file or directory: \/home\/papers/);
  const a0 = await cli('ls', '/home', '--at', '@0');
  t.equal(a0.code, 3, 'nothing at @0');
  t.match(a0.stderr, /no such area: home/);
});

t.test('restore PATH --at P: the old content back as a new change; the log is not rewritten', async (t) => {
  const logBefore = (await realizeOk(env, root, '--json', 'log', 'show')).stdout;
  const pastBefore = (await realizeOk(env, root, '--json', 'tree', '/', '--at', '@52')).stdout;

  story.clock.t += STEP_MS;
  const r = await json('restore', '/home/notes.txt', '--at', '@50');
  t.same(r, [{ path: '/home/notes.txt', position: 50, files: 1, dirs: 0, symlinks: 0 }]);
  t.equal((await realizeOk(env, root, 'cat', '/home/notes.txt')).stdout, NOTES_V1, 'the content of @50 is back');
  t.equal((await realizeOk(env, root, 'cat', '/home/notes.txt', '--at', '@52')).stdout, NOTES_V2, 'the past is unchanged');
  const hist = (await json('history', '/home/notes.txt')) as unknown as Item[];
  t.equal(hist[0]!.position, head + 1, 'one new entry');
  t.same(hist[0]!.events, ['truncate', 'write', 'commit', 'setattr'], 'made of ordinary events');
  t.equal(hist[0]!.hash, hist.find((i) => i.position === 50)!.hash, 'the same version as at @50 (same blocks)');
  t.same(hist.slice(1).map((i) => i.position), [52, 51, 50, 49, 48], 'the old history is still there');
  t.same((await realizeOk(env, root, 'diff', '@50', 'head', '/home/notes.txt')).stdout, '', '@50 and the head agree on it');

  story.clock.t += STEP_MS;
  t.same(await json('restore', '/home/link', '--at', '@15'), [{ path: '/home/link', position: 15, files: 0, dirs: 0, symlinks: 1 }]);
  t.equal(JSON.parse((await realizeOk(env, root, '--json', 'stat', '/home/link')).stdout).target, 'docs/a.txt', 'a symlink restored');

  story.clock.t += STEP_MS;
  await realizeOk(env, root, 'restore', '/home/papers/a.txt', '--at', iso(44));
  t.equal((await realizeOk(env, root, 'cat', '/home/papers/a.txt')).stdout, 'hel', 'a file restored over the one now there, by time');

  // A directory that is gone: everything it held comes back, with modes, owners and times.
  story.clock.t += STEP_MS;
  const d = await json('restore', '/home/docs', '--at', '@24');
  t.same(d, [{ path: '/home/docs', position: 24, files: 3, dirs: 2, symlinks: 0 }]);
  const then = (await realizeOk(env, root, '--json', 'tree', '/home/docs', '--at', '@24')).stdout;
  t.equal((await realizeOk(env, root, '--json', 'tree', '/home/docs')).stdout, then, 'the same tree');
  for (const row of jsonLines({ code: 0, out: Buffer.from(then), stdout: then, stderr: '' })) {
    const path = row['path'] as string;
    const a = JSON.parse((await realizeOk(env, root, '--json', 'stat', path, '--at', '@24')).stdout);
    const b = JSON.parse((await realizeOk(env, root, '--json', 'stat', path)).stdout);
    t.same(
      { kind: b.kind, mode: b.mode, uid: b.uid, gid: b.gid, size: b.size, mtime: b.mtime, version: b.version },
      { kind: a.kind, mode: a.mode, uid: a.uid, gid: a.gid, size: a.size, mtime: a.mtime, version: a.version },
      `${path}: as it was`,
    );
    t.not(b.id, a.id, `${path}: a new node (the log is not rewritten)`);
    if (a.kind === 'file') t.equal((await realizeOk(env, root, 'cat', path)).stdout, (await realizeOk(env, root, 'cat', path, '--at', '@24')).stdout, `${path}: same bytes`);
  }

  const logAfter = (await realizeOk(env, root, '--json', 'log', 'show')).stdout;
  const before = logBefore.trimEnd().split('\n');
  const after = logAfter.trimEnd().split('\n');
  t.ok(after.length > before.length, `${after.length - before.length} entries appended`);
  const byKey = new Map(after.map((l) => [`${JSON.parse(l).feed}#${JSON.parse(l).seq}`, l]));
  t.same(before.map((l) => byKey.get(`${JSON.parse(l).feed}#${JSON.parse(l).seq}`)), before, 'every earlier entry is unchanged (same hash, same events)');
  t.equal((await realizeOk(env, root, '--json', 'tree', '/', '--at', '@52')).stdout, pastBefore, 'the tree at @52 is unchanged');
  const v = await cli('log', 'verify');
  t.equal(v.code, 0, `log verify passes: ${v.stdout}${v.stderr}`);

  const missing = await cli('restore', '/home/nothing', '--at', '@10');
  t.equal(missing.code, 3, 'restoring what was not there: exit 3');
  t.match(missing.stderr, /^realize: no such file or directory: \/home\/nothing/);
  const noAt = await cli('restore', '/home/notes.txt');
  t.equal(noAt.code, 2, '--at is required');
});
