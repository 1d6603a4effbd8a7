/**
 * `realize bench mount`: the same workloads, in one run, on (a) the Realize mount (the
 * `realize mount` server as a child process), (b) bindfs over a plain directory (the anchor:
 * a C libfuse 2 passthrough) and (c) the plain directory itself, all on the same disk:
 *
 *   1. sequential write of 1 GiB in 1 MiB blocks, then its read right after (dd);
 *   2. the same in 4 KiB blocks;
 *   3. create + write + close of 10,000 small files (1-8 KiB, one at a time, node
 *      fs/promises in a child), then lstat of each (node child) and `find` over them;
 *   4. untar of a 10,000-file tree (tar -x), then its delete (rm -rf);
 *   5. the Realize server's peak RSS (VmHWM) against bindfs's.
 *
 * Every workload runs in a child process; the bench process never touches a mounted path
 * (it reads /proc only). Writes use the same dd flags everywhere: `conv=fsync` (one fsync at
 * the end, counted in the time); the source is a seeded, incompressible file on the plain
 * disk (warm in the page cache), read at an offset that changes every run, so Realize's
 * content-addressed blocks cannot deduplicate one run against another. Page caches cannot be
 * dropped in a container: reads come right after the write, warm for all three alike.
 * --scale multiplies the 1 GiB and the 10,000 files.
 */
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freshDir, MiB, scaled } from './harness.js';
import { ensureBindfs, forceUnmount, fuseUsable, mountLine, SMALLFILES_SCRIPT, startBindfs, startRealize, STAT_SCRIPT, type Served } from './mount-helpers.js';
import { run, runOk, sleep } from './proc-helpers.js';
import type { Bench, BenchOptions, BenchResult, BenchRow } from './registry.js';
import { smallFiles, writeBigFile, writeSmallFiles, type SmallFile } from './tree-helpers.js';
import { fmtN } from './report.js';

const FULL_BYTES = 1024 * MiB;
const FULL_FILES = 10_000;
const MB = 1e6;
/** Longer than the 1 s attribute/entry timeouts of both FUSE mounts: stat and find start cold. */
const ATTR_EXPIRY_MS = 1200;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Target {
  readonly key: 'realize' | 'bindfs' | 'plain';
  readonly dir: string;
  readonly served: Served | null;
}

interface Ctx {
  readonly work: string;
  readonly source: string;
  /** One tarball per run, of different content (Realize would deduplicate a second untar of the same bytes). */
  readonly tarballs: readonly string[];
  readonly scripts: string;
  readonly bytes: number;
  readonly files: number;
  readonly tarFiles: number;
  readonly timeoutMs: number;
  /** Distinct per write run: the source offset, so no two runs write the same blocks. */
  run: number;
}

interface Step {
  readonly key: string;
  readonly workload: string;
  readonly unit: string;
  /** Runs on `t` and returns the figure (higher is better). */
  readonly measure: (ctx: Ctx, t: Target, tag: string) => Promise<number>;
}

async function fail(what: string, t: Target, r: { code: number | null; stderr: string; timedOut: boolean }): Promise<never> {
  const server = t.served ? `\n${t.served.name} server stderr (tail):\n${t.served.stderr().trim().split('\n').slice(-20).join('\n')}` : '';
  throw new Error(`bench mount: ${what} on ${t.key} ${r.timedOut ? 'timed out' : `exited ${r.code}`}: ${r.stderr.trim()}${server}`);
}

async function sh(ctx: Ctx, t: Target, what: string, script: string, opts: { captureStdout?: boolean } = {}): Promise<{ seconds: number; stdout: string }> {
  const r = await run('sh', ['-c', script], { timeoutMs: ctx.timeoutMs, ...opts });
  if (r.code !== 0) await fail(what, t, r);
  return r;
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

async function checkSize(ctx: Ctx, t: Target, path: string, want: number): Promise<void> {
  const r = await sh(ctx, t, 'stat of the written file', `stat -c %s ${q(path)}`);
  if (Number(r.stdout.trim()) !== want) throw new Error(`bench mount: ${path} on ${t.key} holds ${r.stdout.trim()} bytes, expected ${want}`);
}

function ddWrite(bs: '1M' | '4k'): Step['measure'] {
  return async (ctx, t, tag) => {
    const k = ++ctx.run;
    const path = join(t.dir, `seq-${bs}-${tag}`);
    const blocks = bs === '1M' ? ctx.bytes / MiB : ctx.bytes / 4096;
    const r = await sh(ctx, t, `dd write bs=${bs}`, `dd if=${q(ctx.source)} of=${q(path)} bs=${bs} count=${blocks} iflag=fullblock,skip_bytes skip=${4096 * k} conv=fsync status=none`);
    await checkSize(ctx, t, path, ctx.bytes);
    return ctx.bytes / MB / r.seconds;
  };
}

function ddRead(bs: '1M' | '4k'): Step['measure'] {
  return async (ctx, t, tag) => {
    const path = join(t.dir, `seq-${bs}-${tag}`);
    const r = await sh(ctx, t, `dd read bs=${bs}`, `dd if=${q(path)} of=/dev/null bs=${bs} status=none`);
    await sh(ctx, t, 'rm of the sequential file', `rm -f ${q(path)}`);
    return ctx.bytes / MB / r.seconds;
  };
}

async function nodeScript(ctx: Ctx, t: Target, what: string, script: string, args: string[]): Promise<{ seconds: number; bytes: number }> {
  const r = await run(process.execPath, [join(ctx.scripts, script), ...args], { timeoutMs: ctx.timeoutMs });
  if (r.code !== 0) await fail(what, t, r);
  return JSON.parse(r.stdout.trim()) as { seconds: number; bytes: number };
}

const smallBytes = new Map<string, number>();

const STEPS: ReadonlyArray<readonly Step[]> = [
  [
    { key: 'w1m', workload: 'sequential write of {size}, 1 MiB blocks (dd conv=fsync)', unit: 'MB/s', measure: ddWrite('1M') },
    { key: 'r1m', workload: 'sequential read right after, 1 MiB blocks (dd)', unit: 'MB/s', measure: ddRead('1M') },
  ],
  [
    { key: 'w4k', workload: 'sequential write of {size}, 4 KiB blocks (dd conv=fsync)', unit: 'MB/s', measure: ddWrite('4k') },
    { key: 'r4k', workload: 'sequential read right after, 4 KiB blocks (dd)', unit: 'MB/s', measure: ddRead('4k') },
  ],
  [
    {
      key: 'create',
      workload: 'create + write + close of {files} small files (1-8 KiB), one at a time',
      unit: 'files/s',
      measure: async (ctx, t, tag) => {
        const r = await nodeScript(ctx, t, 'small-file create', 'smallfiles.mjs', [join(t.dir, `small-${tag}`), String(ctx.files), tag]);
        smallBytes.set(`${t.key}/${tag}`, r.bytes);
        return ctx.files / r.seconds;
      },
    },
    {
      key: 'stat',
      workload: 'stat (lstat) of each of those files, one at a time, caches expired',
      unit: 'stats/s',
      measure: async (ctx, t, tag) => {
        if (t.served) await sleep(ATTR_EXPIRY_MS);
        const r = await nodeScript(ctx, t, 'stat', 'stat.mjs', [join(t.dir, `small-${tag}`), String(ctx.files)]);
        if (r.bytes !== smallBytes.get(`${t.key}/${tag}`)) throw new Error(`bench mount: stat on ${t.key} saw ${r.bytes} bytes of small files, ${smallBytes.get(`${t.key}/${tag}`)} were written`);
        return ctx.files / r.seconds;
      },
    },
    {
      key: 'find',
      workload: '`find` over those files, caches expired',
      unit: 'entries/s',
      measure: async (ctx, t, tag) => {
        if (t.served) await sleep(ATTR_EXPIRY_MS);
        const root = join(t.dir, `small-${tag}`);
        const r = await sh(ctx, t, 'find', `find ${q(root)}`, { captureStdout: false });
        const entries = Number(r.stdout);
        const want = ctx.files + Math.ceil(ctx.files / 100) + 1;
        if (entries !== want) throw new Error(`bench mount: find on ${t.key} listed ${entries} entries, expected ${want}`);
        await sh(ctx, t, 'rm of the small files', `rm -rf ${q(root)}`);
        return entries / r.seconds;
      },
    },
  ],
  [
    {
      key: 'untar',
      workload: 'untar of a tree of {files} small files (tar -x, modes, owners and times kept)',
      unit: 'files/s',
      measure: async (ctx, t, tag) => {
        const dest = join(t.dir, `untar-${tag}`);
        const r = await sh(ctx, t, 'untar', `mkdir ${q(dest)} && tar -xf ${q(ctx.tarballs[Number(tag)]!)} -C ${q(dest)}`);
        return ctx.tarFiles / r.seconds;
      },
    },
    {
      key: 'delete',
      workload: 'delete of that tree (rm -rf)',
      unit: 'files/s',
      measure: async (ctx, t, tag) => {
        const dest = join(t.dir, `untar-${tag}`);
        const r = await sh(ctx, t, 'rm -rf', `rm -rf ${q(dest)}`);
        return ctx.tarFiles / r.seconds;
      },
    },
  ],
];

export const mountBench: Bench = {
  name: 'mount',
  description: 'the Realize FUSE mount against bindfs over a plain directory (and the plain directory): sequential I/O, small files, metadata',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const say = opts.progress;
    const noFuse = await fuseUsable();
    if (noFuse !== null) throw new Error(`bench mount: FUSE cannot be used here: ${noFuse}`);
    const bindfsMissing = await ensureBindfs();
    const bytes = scaled(FULL_BYTES / MiB, opts.scale, 1) * MiB;
    const files = scaled(FULL_FILES, opts.scale, 10);
    const timeoutMs = Math.max(60_000, Math.round(600_000 * Math.min(1, opts.scale * 4)));

    const work = await freshDir(opts.dir, 'mount');
    await chmod(work, 0o755);
    const scripts = join(work, 'scripts');
    await mkdir(scripts);
    await writeFile(join(scripts, 'smallfiles.mjs'), SMALLFILES_SCRIPT);
    await writeFile(join(scripts, 'stat.mjs'), STAT_SCRIPT);

    say('bench mount: making the source file and the tarball');
    const source = join(work, 'source.bin');
    await writeBigFile(source, bytes + MiB, 'mount');
    const tarballs: string[] = [];
    let tree: SmallFile[] = [];
    for (let rep = 0; rep < opts.repeat; rep++) {
      const untarSrc = join(work, 'untar-src');
      tree = smallFiles(files, `mount-untar-${rep}`);
      await writeSmallFiles(untarSrc, tree);
      const tarball = join(work, `tree-${rep}.tar`);
      await runOk('tar -c', 'tar', ['-cf', tarball, '-C', untarSrc, '.'], { timeoutMs });
      tarballs.push(tarball);
      await rm(untarSrc, { recursive: true, force: true });
    }
    const tarDirs = new Set(tree.map((f) => f.path.split('/').slice(0, -1).join('/')));
    const tarParents = new Set([...tarDirs].map((d) => d.split('/')[0]!));

    const ctx: Ctx = { work, source, tarballs, scripts, bytes, files, tarFiles: files, timeoutMs, run: 0 };
    const plain = join(work, 'plain');
    const bindSrc = join(work, 'bindfs-src');
    const bindMnt = join(work, 'bindfs-mnt');
    const realizeMnt = join(work, 'realize-mnt');
    for (const d of [plain, bindSrc, bindMnt, realizeMnt]) await mkdir(d);

    let realize: Served | null = null;
    let bindfs: Served | null = null;
    let bindfsLabel = 'bindfs (missing)';
    const notes: string[] = [];
    const values = new Map<string, Record<Target['key'], number[]>>();
    const rss: { realize: Array<[string, number]>; bindfs: Array<[string, number]> } = { realize: [], bindfs: [] };
    const problems: string[] = [];
    try {
      say('bench mount: mounting');
      realize = await startRealize(join(work, 'store'), realizeMnt, Math.max(60_000, timeoutMs / 4));
      const startupPeak = await realize.peakRss();
      if (startupPeak !== null) rss.realize.push(['start-up', startupPeak]);
      await runOk('mkdir of the area', 'mkdir', [join(realizeMnt, 'bench')], { timeoutMs: 30_000 });
      if (bindfsMissing === null) {
        bindfs = await startBindfs(bindSrc, bindMnt);
        const v = await run('bindfs', ['--version'], { timeoutMs: 10_000 });
        bindfsLabel = /bindfs\s+([\d.]+)/.exec(v.stdout + v.stderr)?.[1] ? `bindfs ${/bindfs\s+([\d.]+)/.exec(v.stdout + v.stderr)![1]}` : 'bindfs';
        const p = await bindfs.peakRss();
        if (p !== null) rss.bindfs.push(['start-up', p]);
      }
      const targets: Target[] = [
        { key: 'realize', dir: join(realizeMnt, 'bench'), served: realize },
        ...(bindfs ? [{ key: 'bindfs' as const, dir: bindMnt, served: bindfs }] : []),
        { key: 'plain', dir: plain, served: null },
      ];
      for (let rep = 0; rep < opts.repeat; rep++) {
        for (const [phase, steps] of STEPS.entries()) {
          // Rotate which target goes first, run by run, so drift in the machine's load is shared.
          const order = targets.map((_, i) => targets[(i + rep + phase) % targets.length]!);
          for (const t of order) {
            const tag = `${rep}`;
            for (const step of steps) {
              say(`bench mount: ${step.key} on ${t.key} (${rep + 1}/${opts.repeat})`);
              await t.served?.resetPeak();
              const v = await step.measure(ctx, t, tag);
              const byTarget = values.get(step.key) ?? { realize: [], bindfs: [], plain: [] };
              byTarget[t.key].push(v);
              values.set(step.key, byTarget);
              if (t.served) {
                const p = await t.served.peakRss();
                if (p !== null) rss[t.key as 'realize' | 'bindfs'].push([step.key, p]);
              }
            }
          }
        }
      }
    } finally {
      say('bench mount: unmounting');
      for (const s of [realize, bindfs]) {
        if (s === null) continue;
        if (!(await s.stop())) problems.push(`${s.mountpoint} could not be unmounted`);
      }
      for (const mp of [realizeMnt, bindMnt]) if ((await mountLine(mp)) && !(await forceUnmount(mp))) problems.push(`${mp} is still mounted`);
    }
    if (problems.length > 0) throw new Error(`bench mount: ${problems.join('; ')} (left in place, not removed)`);
    await rm(work, { recursive: true, force: true });

    const rows: BenchRow[] = [];
    const plainRows: BenchRow[] = [];
    const fmt = fmtN;
    const size = bytes >= 1024 * MiB ? `${fmt(bytes / (1024 * MiB))} GiB` : `${fmt(bytes / MiB)} MiB`;
    for (const steps of STEPS) {
      for (const step of steps) {
        const v = values.get(step.key)!;
        const label = step.workload.replace('{files}', fmt(files)).replace('{size}', size);
        const r = median(v.realize);
        rows.push({ workload: label, unit: step.unit, realize: r, anchor: bindfsLabel, anchorValue: v.bindfs.length > 0 ? median(v.bindfs) : null });
        plainRows.push({ workload: `${label} [plain dir]`, unit: step.unit, realize: r, anchor: 'plain directory (no FUSE)', anchorValue: median(v.plain) });
      }
    }
    const peak = (xs: Array<[string, number]>): number | null => (xs.length > 0 ? Math.max(...xs.map(([, b]) => b)) : null);
    const rPeak = peak(rss.realize);
    const bPeak = peak(rss.bindfs);
    rows.push({ workload: 'server peak RSS (VmHWM) over the whole run', unit: 'MiB', realize: rPeak === null ? null : rPeak / MiB, anchor: bindfsLabel, anchorValue: bPeak === null ? null : bPeak / MiB, better: 'lower' });
    rows.push(...plainRows);

    const perStep = (xs: Array<[string, number]>): string => {
      const m = new Map<string, number>();
      for (const [k, b] of xs) m.set(k, Math.max(m.get(k) ?? 0, b));
      return [...m].map(([k, b]) => `${k} ${(b / MiB).toFixed(0)}`).join(', ');
    };
    const runs = (key: string): string => {
      const v = values.get(key)!;
      const f = (xs: number[]): string => xs.map((x) => (x >= 100 ? Math.round(x) : x.toFixed(1))).join('/');
      return `${key} ${f(v.realize)} | ${f(v.bindfs)} | ${f(v.plain)}`;
    };
    notes.push(
      `Realize: \`realize --store S --json mount MP\` as a child process, options ${realize?.options ?? '?'}; ${bindfs ? `${bindfsLabel}: ${bindfs.options}` : bindfsMissing ?? ''}; plain: a directory on the same disk. The rows marked [plain dir] compare Realize with the plain directory`,
      'goals: sequential read and write >= bindfs (ratio >= 1); metadata workloads (create, stat, find, untar, delete) within 1.5x of bindfs (ratio >= 0.67)',
      `writes: dd if=SOURCE of=FILE bs=1M|4k count=N iflag=fullblock,skip_bytes skip=4096*RUN conv=fsync (the same flags for all three; the fsync at the end is timed); reads: dd if=FILE of=/dev/null bs=1M|4k, right after the write (page cache warm for all three alike; caches cannot be dropped in a container); MB = 10^6 bytes`,
      `small files: ${fmt(files)} files of 1-8 KiB in directories of 100, open+write+close one at a time by node (fs/promises) in a child, timed inside the child; lstat of each, likewise; find: \`find DIR\` (${fmt(files + Math.ceil(files / 100) + 1)} entries); on the mounts, stat and find start ${ATTR_EXPIRY_MS} ms after the previous step, past both mounts' 1 s attribute/entry timeouts`,
      `untar: tar -xf of a ${fmt(files)}-file tree (a different one each run; ${fmt(tarDirs.size + tarParents.size + 1)} directories, 1-8 KiB files, text and binary; as root, so owners, modes and times are set) into a fresh directory; delete: rm -rf of it; both timed as child processes`,
      `each figure is the median of ${opts.repeat} run${opts.repeat === 1 ? '' : 's'}; the order of the three targets rotates run by run. Per run (realize | bindfs | plain): ${[...values.keys()].map(runs).join('; ')}`,
      `server peak RSS by workload, MiB (VmHWM reset before each): Realize ${perStep(rss.realize)}${bindfs ? `; bindfs ${perStep(rss.bindfs)}` : ''}`,
    );
    return { rows, notes };
  },
};
