/**
 * The reading commands at every position of a known history (helpers/story.ts), named every
 * way a position can be written: `ls`, `tree`, `stat` and `cat` with --at @N, a wall time (UTC,
 * local, today HH:MM:SS, -Nm), FEED:SEQ and a tag each print exactly what they printed while
 * that position was the head, which in turn is the reference model's tree at that position.
 * Extended attributes (no command prints them) are checked through the Snapshot API.
 */
import t from 'tap';
import { resolvePosition } from '../../engine/index.js';
import { realizeOk } from './helpers/cli.js';
import { modelMismatches, observe, treeRows, type Observation } from './helpers/observe.js';
import { STEP_MS, writeStory, type Step } from './helpers/story.js';

const story = await writeStory(t, { observe: true });
const { env, root, steps, clock } = story;
const head = steps.length - 1;
// The commands run one minute and a half after the last entry.
clock.t = steps[head]!.time + 90_000;

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** The ways of writing a wall time inside [time of n, time of n + 1). */
function timeTexts(step: Step): string[] {
  const mid = step.time + STEP_MS / 2;
  const d = new Date(mid);
  const local = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
  const now = new Date(clock.t);
  const out = [new Date(mid).toISOString(), new Date(step.time).toISOString(), local];
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  if (sameDay) out.push(`today ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`);
  // -Nm: N whole minutes before now lands half a minute after the entry.
  const minutes = (clock.t - mid) / 60_000;
  if (Number.isInteger(minutes)) out.push(`-${minutes}m`);
  const seconds = (clock.t - mid) / 1000;
  out.push(`-${seconds}s`);
  return out;
}

/** Every command once at `at`: `tree /`, and `ls`, `stat` and `cat` of the k-th of their targets. */
async function observeOne(at: string, want: Observation, k: number): Promise<{ got: Record<string, string>; want: Record<string, string> }> {
  const got: Record<string, string> = {};
  const exp: Record<string, string> = {};
  const pickKey = (o: Readonly<Record<string, string>>): string | undefined => {
    const keys = Object.keys(o);
    return keys.length === 0 ? undefined : keys[k % keys.length];
  };
  const tree = await realizeOk(env, root, '--json', 'tree', '/', '--at', at);
  got['tree'] = tree.stdout;
  exp['tree'] = want.tree;
  const dir = pickKey(want.ls);
  if (dir !== undefined) {
    got[`ls ${dir}`] = (await realizeOk(env, root, '--json', 'ls', dir, '--at', at)).stdout;
    exp[`ls ${dir}`] = want.ls[dir]!;
  }
  const path = pickKey(want.stat)!;
  got[`stat ${path}`] = (await realizeOk(env, root, '--json', 'stat', path, '--at', at)).stdout;
  exp[`stat ${path}`] = want.stat[path]!;
  const file = pickKey(want.cat);
  if (file !== undefined) {
    got[`cat ${file}`] = (await realizeOk(env, root, 'cat', file, '--at', at)).out.toString('hex');
    exp[`cat ${file}`] = want.cat[file]!;
  }
  return { got, want: exp };
}

t.test('the story: one entry per action, in two feeds, one minute apart', async (t) => {
  t.equal(head, 52, 'the story has 52 positions after the empty store');
  for (const s of steps.slice(1)) t.equal(s.time, steps[0]!.time + s.n * STEP_MS, `@${s.n} (${s.label}) is ${s.n} minutes in`);
  const feeds = new Set(steps.slice(1).map((s) => s.feed));
  t.same([...feeds].sort(), [`${story.publicKey}.home`, `${story.publicKey}.work`], 'entries of the home and work feeds');
});

t.test('at each position, while it was the head, the commands showed the model', async (t) => {
  for (const s of steps) {
    const obs = s.head!;
    t.same(modelMismatches(obs, s.model), [], `@${s.n} after ${s.label}: ${treeRows(obs.tree).length} paths as the model has them`);
  }
  // A few facts of the story, spelled out (so a model bug cannot hide one).
  const at = (n: number) => steps[n]!.head!;
  t.equal(Buffer.from(at(5).cat['/home/docs/a.txt']!, 'hex').toString(), 'hello\n', '@5: a written file reads before its commit');
  t.match(at(5).stat['/home/docs/a.txt']!, /"pending":1/, '@5: one pending write');
  t.equal(Buffer.from(at(13).cat['/home/docs/a.txt']!, 'hex').toString(), 'hello\nworld\n');
  t.match(at(16).stat['/home/hard.txt']!, /"nlink":2/, '@16: two links');
  t.equal(at(25).stat['/home/docs/a.txt'], undefined, '@25: docs was renamed');
  t.equal(Buffer.from(at(25).cat['/home/papers/sub/deep.txt']!, 'hex').toString(), 'deep\n', '@25: its subtree moved with it');
  t.equal(at(28).stat['/home/papers/c.txt'], undefined, '@28: c.txt deleted');
  t.not(JSON.parse(at(29).stat['/home/papers/c.txt']!).id, JSON.parse(at(27).stat['/home/papers/c.txt']!).id, '@29: re-created as a new node');
  t.match(at(37).ls['/home']!, /"target":"papers\/c.txt"/, '@37: the symlink points at c.txt');
  t.ok(at(41).stat['/home/papers/\u{1F600}.txt'], '@41: a name beyond U+FFFF');
  t.equal(Buffer.from(at(45).cat['/home/papers/a.txt']!, 'hex').toString(), 'charlie v2\n', '@45: c.txt renamed over a.txt');
  t.equal(Buffer.from(at(45).cat['/home/papers/hard2.txt']!, 'hex').toString(), 'hel', '@45: the old a.txt lives on as hard2.txt');
});

t.test('tags for every position', async (t) => {
  for (const s of steps) {
    const r = await realizeOk(env, root, '--json', 'tag', `at-${s.n}`, `@${s.n}`);
    t.equal(JSON.parse(r.stdout).position, s.n, `tag at-${s.n}`);
  }
  const list = (await realizeOk(env, root, '--json', 'tag')).stdout.split('\n').filter((l) => l !== '');
  t.equal(list.length, steps.length, 'tag lists them all');
});

t.test('every position form resolves to its position', async (t) => {
  const engine = await story.engine();
  for (const s of steps) {
    const texts = [`@${s.n}`, `at-${s.n}`, ...(s.n > 0 ? [`${s.feed}:${s.seq}`, ...timeTexts(s)] : [])];
    for (const text of texts) {
      const r = await resolvePosition(engine, text);
      t.equal(r.n, s.n, `${JSON.stringify(text)} -> @${s.n}`);
      if (s.n > 0) t.equal(r.time, s.time, `${JSON.stringify(text)}: the time of the entry`);
    }
  }
  t.equal((await resolvePosition(engine, 'head')).n, head);
  // A version vector: after entry a of home and entry b of work = whichever came later.
  const home = steps.filter((s) => s.feed.endsWith('.home'));
  const work = steps.filter((s) => s.feed.endsWith('.work'));
  for (const [a, b] of [[home[3]!, work[1]!], [home[20]!, work[2]!], [home[0]!, work[0]!]] as const) {
    t.equal((await resolvePosition(engine, `${a.feed}:${a.seq},${b.feed}:${b.seq}`)).n, Math.max(a.n, b.n), `${a.seq} of home and ${b.seq} of work`);
  }
  await story.close();
});

t.test('ls, tree, stat and cat --at @N: every path at every position, as printed then', async (t) => {
  for (const s of steps) t.same(await observe(env, root, `@${s.n}`), s.head, `@${s.n} (${s.label})`);
  t.same(await observe(env, root, 'head'), steps[head]!.head, '--at head');
  t.same(await observe(env, root), steps[head]!.head, 'no --at');
});

t.test('ls, tree, stat and cat --at TAG at every position', async (t) => {
  for (const s of steps) {
    const r = await observeOne(`at-${s.n}`, s.head!, s.n);
    t.same(r.got, r.want, `at-${s.n}`);
  }
});

t.test('ls, tree, stat and cat --at FEED:SEQ at every position', async (t) => {
  for (const s of steps.slice(1)) {
    const r = await observeOne(`${s.feed}:${s.seq}`, s.head!, s.n + 1);
    t.same(r.got, r.want, `${s.feed.slice(0, 8)}…${s.feed.slice(64)}:${s.seq} = @${s.n}`);
  }
  // A unique prefix of the feed's name does: the key alone names two feeds here.
  const one = await realizeOk(env, root, '--json', 'stat', '/work/big.bin', '--at', `${story.publicKey}.work:2`);
  t.equal(JSON.parse(one.stdout).size, 300 * 1024);
});

t.test('ls, tree, stat and cat --at TIME at every position', async (t) => {
  for (const s of steps.slice(1)) {
    const texts = timeTexts(s);
    for (const [i, text] of texts.entries()) {
      const r = await observeOne(text, s.head!, s.n + i);
      t.same(r.got, r.want, `${JSON.stringify(text)} = @${s.n}`);
    }
  }
});

t.test('extended attributes at every position (Snapshot API)', async (t) => {
  const engine = await story.engine();
  for (const s of steps) {
    const snap = engine.at(s.n);
    for (const [path, want] of s.model) {
      const info = snap.stat(path);
      const names = snap.listxattr(info.id).sort();
      t.same(names, Object.keys(want.xattrs), `@${s.n} ${path}: xattr names`);
      for (const name of names) t.equal(Buffer.from(snap.getxattr(info.id, name)).toString('hex'), want.xattrs[name], `@${s.n} ${path}: ${name}`);
    }
  }
  // Spelled out: set at 17 on a.txt, removed at 34, another set at 35 through the hard link.
  const a = (n: number) => engine.at(n).listxattr(engine.at(n).stat(n < 25 ? '/home/docs/a.txt' : '/home/papers/a.txt').id);
  t.same(a(16), []);
  t.same(a(17), ['user.color']);
  t.same(a(33), ['user.color']);
  t.same(a(34), []);
  t.same(a(35), ['user.size']);
  t.throws(() => engine.at(34).getxattr(engine.at(34).stat('/home/papers/a.txt').id, 'user.color'), { code: 'NO_ATTRIBUTE' });
  await story.close();
});
