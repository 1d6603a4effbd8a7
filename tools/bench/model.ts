/**
 * `realize bench model`: importing a plain tree into the store (engine/import-tree.ts, in
 * process: Engine.open + importTree, the work `realize import` does), against `cp -a` of the
 * same tree and hyperdrive 13 putting the same files, on the same disk in the same run; then
 * a full rebuild of the projections from the imported log, and the engine's peak RSS.
 *
 *   1. the whole tree: 10,000 small files (1-8 KiB, a seeded mix of text, structured text,
 *      binary and a few shared copies; tools/bench/tree-helpers.ts) + one 1 GiB file of
 *      incompressible seeded content: files/s and MB/s against each anchor;
 *   2. the small files alone (files/s) and the 1 GiB file alone (MB/s);
 *   3. rebuild every projection from the imported log into a scratch LMDB environment the
 *      way replayCheck (`realize log replay --check`) does it (no undo records: nothing
 *      rewinds a scratch place), events/s, against the model issue's goal of 200,000
 *      events/s; then replayCheck itself (digests compared with the live ones), and one
 *      rebuild with undo records (what the engine does when it rebuilds its own) for the notes;
 *   4. peak RSS of the process during the import, at the full tree and at a tenth of it
 *      (1,000 files + 100 MiB): the same figure at both sizes means memory stays flat.
 *
 * --scale multiplies the file count and the large file's size. MB = 10^6 bytes, of file
 * content. Each side's copy is removed after its run; the runs alternate (Realize, cp -a,
 * hyperdrive) so load on the shared machine falls on all three alike.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Engine, importTree, initStore, replayCheck } from '../../engine/index.js';
import { ProjectionSet, rebuild } from '../../projections/index.js';
import { collectGarbage, freshDir, MiB, PeakRss, rate, scaled, settle, timed } from './harness.js';
import { cpA, hyperdriveImport, loadHyperdrive, MemSampler, type HyperdriveAnchor, type MemSplit } from './model-helpers.js';
import { runOk } from './proc-helpers.js';
import type { Bench, BenchOptions, BenchResult, BenchRow } from './registry.js';
import { generateTree, type GeneratedTree } from './tree-helpers.js';
import { systemEnv as env } from '../cli-context.js';
import { fmtN } from './report.js';

const FULL_SMALL_FILES = 10_000;
const FULL_BIG_BYTES = 1024 * MiB;
/** The model issue's goals. */
const GOAL_REBUILD_EVENTS_PER_S = 200_000;
/** hyperdrive puts in flight (its best of 1, 4, 8 and 16 here; see the notes). */
const HYPERDRIVE_IN_FLIGHT = 8;
const MB = 1e6;

function splitNote(label: string, s: RealizeRun['split']): string {
  if (s === null) return `${label}: not measured`;
  const f = (b: number): string => (b / MiB).toFixed(1);
  // A part can shrink during the run (a collection right after the baseline): no growth then.
  return `${label}: anonymous ${f(s.peak.anon)} (+${f(Math.max(0, s.peak.anon - s.base.anon))}), file-backed ${f(s.peak.file)} (+${f(Math.max(0, s.peak.file - s.base.file))})`;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}


interface RealizeRun {
  readonly seconds: number;
  /** CPU seconds of the whole process (main thread, libuv pool, LMDB) during the import. */
  readonly cpu: number;
  readonly files: number;
  readonly bytes: number;
  readonly rss: { peak: number; growth: number };
  readonly split: { peak: MemSplit; base: MemSplit } | null;
  /** The store, when kept. */
  readonly store: string | null;
}

/** One import into a fresh store; the store is removed afterwards unless `keep`. */
async function realizeImport(parent: string, src: string, keep: boolean): Promise<RealizeRun> {
  const store = join(await freshDir(parent, 'realize'), 'store');
  await initStore(store, env);
  const engine = await Engine.open(store, env);
  let out: RealizeRun;
  try {
    await engine.run({ type: 'mkdir', path: '/bench', mode: 0o755, owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } });
    collectGarbage();
    await settle();
    const rss = await PeakRss.start();
    const split = await MemSampler.start();
    const cpu0 = process.cpuUsage();
    const t = await timed(() => importTree(engine, src, '/bench'));
    const cpu = process.cpuUsage(cpu0);
    const s = await split.stop();
    const m = await rss.stop();
    if (t.value.skipped.length > 0) throw new Error(`bench model: the import skipped ${t.value.skipped.length} entries: ${t.value.skipped[0]}`);
    out = { seconds: t.seconds, cpu: (cpu.user + cpu.system) / 1e6, files: t.value.files, bytes: t.value.bytes, rss: m, split: s, store: keep ? store : null };
  } finally {
    await engine.close();
  }
  if (!keep) await rm(join(store, '..'), { recursive: true, force: true });
  return out;
}

/** cp -a, timed; then `sync -f` of the copy's filesystem, timed apart (the durable figure is the sum). */
async function cpRun(parent: string, src: string, timeoutMs: number): Promise<{ cp: number; sync: number; cpu: number | null }> {
  const dest = join(await freshDir(parent, 'cp'), 'out');
  await settle();
  const t = await timed(() => cpA(src, dest, timeoutMs));
  const s = await timed(() => runOk('sync -f', 'sync', ['-f', dest], { timeoutMs }));
  await rm(join(dest, '..'), { recursive: true, force: true });
  return { cp: t.seconds, sync: s.seconds, cpu: t.value.cpu };
}

async function hyperdriveRun(anchor: HyperdriveAnchor, parent: string, src: string, bytes: number): Promise<{ seconds: number; cpu: number }> {
  const dir = await freshDir(parent, 'hyperdrive');
  const { drive, close } = await anchor.open(dir);
  let out: { seconds: number; cpu: number };
  try {
    collectGarbage();
    await settle();
    const cpu0 = process.cpuUsage();
    const t = await timed(() => hyperdriveImport(drive, src, HYPERDRIVE_IN_FLIGHT));
    const cpu = process.cpuUsage(cpu0);
    if (t.value !== bytes) throw new Error(`bench model: hyperdrive put ${t.value} bytes, expected ${bytes}`);
    out = { seconds: t.seconds, cpu: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await close();
  }
  await rm(dir, { recursive: true, force: true });
  return out;
}

/** Events in every feed of the store (read back from the log; not timed). */
async function countEvents(engine: Engine): Promise<{ entries: number; events: number }> {
  let entries = 0;
  let events = 0;
  for (const feed of engine.store.feeds.list()) {
    for (let from = 0; from < feed.length; from += 256) {
      for (const e of await feed.read(from, Math.min(feed.length, from + 256))) {
        entries++;
        events += e.events.length;
      }
    }
  }
  return { entries, events };
}

interface RebuildMemory {
  readonly events: number;
  readonly rss: { peak: number; growth: number };
  readonly split: RealizeRun['split'];
}

/** One rebuild of `store`'s projections into a fresh scratch place, as replay --check does it, with its memory measured. */
async function rebuildMemory(parent: string, store: string): Promise<RebuildMemory> {
  const engine = await Engine.open(store, env);
  try {
    const { events } = await countEvents(engine);
    const scratch = await freshDir(parent, 'rebuild-memory');
    const set = ProjectionSet.open(scratch, { scratch: true });
    try {
      collectGarbage();
      await settle();
      const rss = await PeakRss.start();
      const split = await MemSampler.start();
      await rebuild(set, engine.store.feeds, undefined, { undo: false });
      const s = await split.stop();
      return { events, rss: await rss.stop(), split: s };
    } finally {
      await set.close();
      await rm(scratch, { recursive: true, force: true });
    }
  } finally {
    await engine.close();
  }
}

interface Workload {
  readonly key: 'tree' | 'small' | 'big';
  readonly src: string;
  readonly files: number;
  readonly bytes: number;
}

export const modelBench: Bench = {
  name: 'model',
  description: 'import of 10,000 small files + one 1 GiB file into the store, against cp -a and hyperdrive; rebuild speed; peak RSS',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const say = opts.progress;
    const smallCount = scaled(FULL_SMALL_FILES, opts.scale, 10);
    const bigBytes = scaled(FULL_BIG_BYTES / MiB, opts.scale, 1) * MiB;
    const tenthSmall = Math.max(5, Math.round(smallCount / 10));
    const tenthBig = Math.max(1, Math.round(bigBytes / MiB / 10)) * MiB;
    // Generous timeouts for the child processes: 10 minutes at full scale.
    const timeoutMs = Math.max(60_000, Math.round(600_000 * Math.min(1, opts.scale * 4)));

    say('bench model: generating the trees');
    const tree: GeneratedTree = await generateTree(join(await freshDir(opts.dir, 'src'), 'tree'), { smallCount, bigBytes, seed: 'model' });
    const tenth: GeneratedTree = await generateTree(join(await freshDir(opts.dir, 'src-tenth'), 'tree'), { smallCount: tenthSmall, bigBytes: tenthBig, seed: 'model-tenth' });
    const warm: GeneratedTree = await generateTree(join(await freshDir(opts.dir, 'src-warm'), 'tree'), { smallCount: Math.min(200, smallCount), bigBytes: MiB, seed: 'model-warm' });
    const treeFiles = tree.smallCount + 1;
    const treeBytes = tree.smallBytes + tree.bigBytes;
    const workloads: Workload[] = [
      { key: 'tree', src: tree.root, files: treeFiles, bytes: treeBytes },
      { key: 'small', src: tree.smallDir, files: tree.smallCount, bytes: tree.smallBytes },
      { key: 'big', src: join(tree.root, 'big'), files: 1, bytes: tree.bigBytes },
    ];

    // Warm the code paths up (JIT, lazy loading) on a small tree, Realize first.
    say('bench model: warming up');
    await realizeImport(opts.dir, warm.root, false);
    await cpRun(opts.dir, warm.root, timeoutMs);

    // Memory at a tenth of the tree, before anything else has grown the process.
    say('bench model: Realize import of the tenth-size tree (peak RSS)');
    // Kept for the rebuild's memory at a tenth of the tree (removed after it).
    const tenthRun = await realizeImport(opts.dir, tenth.root, true);
    if (tenthRun.files !== tenth.smallCount + 1) throw new Error(`bench model: imported ${tenthRun.files} files of ${tenth.smallCount + 1}`);

    const times: Record<Workload['key'], { realize: number[]; cp: number[]; cpSync: number[]; hd: number[] }> = {
      tree: { realize: [], cp: [], cpSync: [], hd: [] },
      small: { realize: [], cp: [], cpSync: [], hd: [] },
      big: { realize: [], cp: [], cpSync: [], hd: [] },
    };
    /** CPU seconds per run, for the notes: on a loaded machine wall time is mostly waiting for a CPU. */
    const cpuTimes: Record<Workload['key'], { realize: number[]; cp: number[]; hd: number[] }> = {
      tree: { realize: [], cp: [], hd: [] },
      small: { realize: [], cp: [], hd: [] },
      big: { realize: [], cp: [], hd: [] },
    };
    const fullRss: Array<RealizeRun['rss'] & { split: RealizeRun['split'] }> = [];
    let keptStore: string | null = null;
    let hdWarm = false;
    // hyperdrive is loaded after the first full Realize import, so that import's RSS is Realize's alone.
    let loaded: Awaited<ReturnType<typeof loadHyperdrive>> | null = null;
    let hd: HyperdriveAnchor | null = null;
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const w of workloads) {
        const of = `${w.key} (${rep + 1}/${opts.repeat})`;
        say(`bench model: Realize import, ${of}`);
        const keep = w.key === 'tree' && rep === opts.repeat - 1;
        const r = await realizeImport(opts.dir, w.src, keep);
        if (r.files !== w.files || r.bytes !== w.bytes) throw new Error(`bench model: imported ${r.files} files, ${r.bytes} bytes; expected ${w.files}, ${w.bytes}`);
        times[w.key].realize.push(r.seconds);
        cpuTimes[w.key].realize.push(r.cpu);
        if (w.key === 'tree') fullRss.push({ ...r.rss, split: r.split });
        if (keep) keptStore = r.store;
        say(`bench model: cp -a, ${of}`);
        const c = await cpRun(opts.dir, w.src, timeoutMs);
        times[w.key].cp.push(c.cp);
        times[w.key].cpSync.push(c.cp + c.sync);
        if (c.cpu !== null) cpuTimes[w.key].cp.push(c.cpu);
        if (loaded === null) {
          loaded = await loadHyperdrive();
          hd = loaded.ok ? loaded.anchor : null;
        }
        if (hd !== null) {
          if (!hdWarm) {
            say('bench model: warming hyperdrive up');
            await hyperdriveRun(hd, opts.dir, warm.root, warm.smallBytes + warm.bigBytes);
            hdWarm = true;
          }
          say(`bench model: hyperdrive, ${of}`);
          const h = await hyperdriveRun(hd, opts.dir, w.src, w.bytes);
          times[w.key].hd.push(h.seconds);
          cpuTimes[w.key].hd.push(h.cpu);
        }
      }
    }

    // The rebuild's memory, at a tenth of the tree and at the whole tree, each in a fresh scratch place.
    say('bench model: rebuild memory at both tree sizes');
    const tenthRebuild = await rebuildMemory(opts.dir, tenthRun.store!);
    await rm(join(tenthRun.store!, '..'), { recursive: true, force: true });
    const fullRebuild = await rebuildMemory(opts.dir, keptStore!);

    // Rebuild over the last imported store (the whole tree).
    say('bench model: rebuilding the projections from the log');
    const engine = await Engine.open(keptStore!, env);
    let rebuildSeconds: number[] = [];
    const rebuildCpu: number[] = [];
    let counted: { entries: number; events: number };
    let rebuildOk = true;
    let rebuildWithUndo = Number.NaN;
    try {
      counted = await countEvents(engine);
      for (let rep = 0; rep < opts.repeat; rep++) {
        const scratch = await freshDir(opts.dir, 'rebuild');
        const set = ProjectionSet.open(scratch, { scratch: true });
        collectGarbage();
        await settle();
        const cpu0 = process.cpuUsage();
        const t = await timed(() => rebuild(set, engine.store.feeds, undefined, { undo: false }));
        const cpu = process.cpuUsage(cpu0);
        await set.close();
        if (t.value !== counted.entries) throw new Error(`bench model: the rebuild applied ${t.value} entries of ${counted.entries}`);
        rebuildSeconds.push(t.seconds);
        rebuildCpu.push((cpu.user + cpu.system) / 1e6);
        await rm(scratch, { recursive: true, force: true });
      }
      {
        const scratch = await freshDir(opts.dir, 'rebuild-undo');
        const set = ProjectionSet.open(scratch);
        collectGarbage();
        await settle();
        const t = await timed(() => rebuild(set, engine.store.feeds));
        await set.close();
        rebuildWithUndo = t.seconds;
        await rm(scratch, { recursive: true, force: true });
      }
      // Rebuild equals incremental: the same rebuild into a scratch place, digests compared.
      const scratch = await freshDir(opts.dir, 'rebuild-check');
      const check = await replayCheck(engine, { scratch });
      rebuildOk = check.ok && check.entries === counted.entries;
      await rm(scratch, { recursive: true, force: true });
    } finally {
      await engine.close();
    }
    await rm(join(keptStore!, '..'), { recursive: true, force: true });
    rebuildSeconds = rebuildSeconds.length > 0 ? rebuildSeconds : [Number.NaN];

    const hdName = hd?.label ?? 'hyperdrive (missing)';
    const rows: BenchRow[] = [];
    const fmt = fmtN;
    const big = `${fmt(bigBytes / MiB)} MiB`;
    const sides = (w: Workload, label: string): void => {
      const t = times[w.key];
      const realizeS = median(t.realize);
      const cpS = median(t.cp);
      const hdS = t.hd.length > 0 ? median(t.hd) : null;
      if (w.key !== 'big') {
        rows.push({ workload: `import ${label}`, unit: 'files/s', realize: rate(w.files, realizeS), anchor: 'cp -a', anchorValue: rate(w.files, cpS) });
        rows.push({ workload: `import ${label}`, unit: 'files/s', realize: rate(w.files, realizeS), anchor: hdName, anchorValue: hdS === null ? null : rate(w.files, hdS) });
      }
      if (w.key !== 'small') {
        rows.push({ workload: `import ${label}`, unit: 'MB/s', realize: rate(w.bytes / MB, realizeS), anchor: 'cp -a', anchorValue: rate(w.bytes / MB, cpS) });
        rows.push({ workload: `import ${label}`, unit: 'MB/s', realize: rate(w.bytes / MB, realizeS), anchor: hdName, anchorValue: hdS === null ? null : rate(w.bytes / MB, hdS) });
      }
      if (w.key === 'tree') {
        rows.push({ workload: `import ${label}, durable on both sides`, unit: 'MB/s', realize: rate(w.bytes / MB, realizeS), anchor: 'cp -a, then sync -f', anchorValue: rate(w.bytes / MB, median(t.cpSync)) });
      }
    };
    sides(workloads[0]!, `tree: ${fmt(tree.smallCount)} small files + 1 file of ${big}`);
    sides(workloads[1]!, `${fmt(tree.smallCount)} small files (1-8 KiB) alone`);
    sides(workloads[2]!, `1 file of ${big} alone`);
    const rbS = median(rebuildSeconds);
    rows.push({
      workload: `rebuild all projections from the imported log (${fmt(counted.events)} events, ${fmt(counted.entries)} entries)`,
      unit: 'events/s',
      realize: rate(counted.events, rbS),
      anchor: 'goal of the model issue',
      anchorValue: GOAL_REBUILD_EVENTS_PER_S,
    });
    const firstFull = fullRss[0]!;
    const tenthLabel = `the same at ${fmt(tenth.smallCount)} files + ${fmt(tenthBig / MiB)} MiB`;
    rows.push({ workload: `import peak RSS, ${fmt(tree.smallCount)} files + ${big}`, unit: 'MiB', realize: firstFull.peak / MiB, anchor: tenthLabel, anchorValue: tenthRun.rss.peak / MiB, better: 'lower' });
    rows.push({ workload: `import RSS growth over the RSS before it, ${fmt(tree.smallCount)} files + ${big}`, unit: 'MiB', realize: firstFull.growth / MiB, anchor: tenthLabel, anchorValue: tenthRun.rss.growth / MiB, better: 'lower' });
    const anonGrowth = (r: RebuildMemory): number => (r.split === null ? Number.NaN : Math.max(0, r.split.peak.anon - r.split.base.anon) / MiB);
    rows.push({ workload: `rebuild RSS growth over the RSS before it, ${fmt(counted.events)} events`, unit: 'MiB', realize: fullRebuild.rss.growth / MiB, anchor: `the same at ${fmt(tenthRebuild.events)} events`, anchorValue: tenthRebuild.rss.growth / MiB, better: 'lower' });
    rows.push({ workload: `rebuild anonymous memory growth (heap, native), ${fmt(counted.events)} events`, unit: 'MiB', realize: anonGrowth(fullRebuild), anchor: `the same at ${fmt(tenthRebuild.events)} events`, anchorValue: anonGrowth(tenthRebuild), better: 'lower' });

    const ms = (xs: readonly number[]): string => xs.map((s) => `${s.toFixed(2)}`).join(', ');
    const notes = [
      `tree: ${fmt(tree.smallCount)} files of 1-8 KiB in ${fmt(tree.dirs)} directories (${(tree.smallBytes / MiB).toFixed(1)} MiB; ${tree.mix.text} text, ${tree.mix.data} structured text, ${tree.mix.binary} binary, ${tree.mix.copy} copies of 16 shared files) + one ${big} file of incompressible content; seeded, so the same bytes every run`,
      `each figure is the median of ${opts.repeat} run${opts.repeat === 1 ? '' : 's'}; seconds per run (tree / small / big): Realize ${ms(times.tree.realize)} / ${ms(times.small.realize)} / ${ms(times.big.realize)}; cp -a ${ms(times.tree.cp)} / ${ms(times.small.cp)} / ${ms(times.big.cp)}${hd ? `; hyperdrive ${ms(times.tree.hd)} / ${ms(times.small.hd)} / ${ms(times.big.hd)}` : ''}`,
      `CPU seconds per run (tree / small / big; whole process for Realize and hyperdrive, cp's own for cp -a): Realize ${ms(cpuTimes.tree.realize)} / ${ms(cpuTimes.small.realize)} / ${ms(cpuTimes.big.realize)}; cp -a ${ms(cpuTimes.tree.cp)} / ${ms(cpuTimes.small.cp)} / ${ms(cpuTimes.big.cp)}${hd ? `; hyperdrive ${ms(cpuTimes.tree.hd)} / ${ms(cpuTimes.small.hd)} / ${ms(cpuTimes.big.hd)}` : ''}`,
      'the goal: Realize import within 3x of cp -a (ratio >= 0.33 against cp -a) and faster than hyperdrive (ratio > 1); rebuild >= 200,000 events/s (ratio >= 1 against the goal row); peak RSS the same at both tree sizes',
      `durability: the Realize import returns when every block and entry is fsynced (blocks fdatasynced before the entry that names them); cp -a and hyperdrive never fsync (hyperdrive's RocksDB writes its WAL unsynced), so their copies are in the page cache when they finish. The "durable on both sides" row adds \`sync -f\` (syncfs of the filesystem, which on a shared disk also flushes other processes' writes) after cp -a: ${ms(times.tree.cpSync)} s`,
      `Realize: in-process Engine.open + importTree (8 files read in parallel, entries of ~2,000 events), timed from the walk to the last fsync; cp -a: a child process; ${hdName}: in-process, a walk of the same tree, readFile + drive.put of every file, ${HYPERDRIVE_IN_FLIGHT} files in flight (the 1 GiB file read whole and put in one drive.put), timed to the last put (close not timed)`,
      `rebuild: every projection rebuilt from the log into a fresh scratch LMDB environment as replay --check does (projections rebuild(..., { undo: false })), median of ${rebuildSeconds.length} (${ms(rebuildSeconds)} s wall, ${ms(rebuildCpu)} s CPU: ${fmt(Math.round(rate(counted.events, median(rebuildCpu))))} events per CPU second, what an idle machine would show); ${fmt(Math.round(rate(counted.entries, rbS)))} entries/s; replayCheck of the same store: rebuilt digests ${rebuildOk ? 'equal' : 'DIFFER FROM'} the live ones; a rebuild that keeps undo records (the engine rebuilding its own projections): ${fmt(Math.round(rate(counted.events, rebuildWithUndo)))} events/s`,
      `peak RSS: VmHWM reset at the start of the import and read at its end (plus 20 ms sampling); the full-size figure is the first full import, before hyperdrive was loaded (peak over all ${fullRss.length} full imports: ${(Math.max(...fullRss.map((r) => r.peak)) / MiB).toFixed(1)} MiB). RSS includes mapped LMDB pages (file-backed)`,
      `where the growth is (peak over the RSS before the import, MiB; anonymous = JS heap and native allocations, file-backed = mapped LMDB pages, reclaimable): ${splitNote('full', firstFull.split)}; ${splitNote('tenth', tenthRun.split)}`,
      `rebuild memory: one rebuild (as replay --check) of each store into a fresh scratch place, VmHWM reset before it; batches of at most 4,096 events, so the anonymous part should not grow with the log; the file-backed part is the scratch LMDB's mapped pages (it grows with the projections, and is reclaimable): ${splitNote('full', fullRebuild.split)}; ${splitNote('tenth', tenthRebuild.split)}`,
      'page cache: the source tree was just written, so every side reads it from the page cache',
      ...(loaded === null || loaded.ok ? [] : [loaded.reason]),
    ];
    await rm(join(tree.root, '..'), { recursive: true, force: true });
    await rm(join(tenth.root, '..'), { recursive: true, force: true });
    await rm(join(warm.root, '..'), { recursive: true, force: true });
    return { rows, notes };
  },
};
