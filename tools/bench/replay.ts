/**
 * `realize bench replay`: `realize log replay` of a log of 100,000 files (1,000 directories
 * of 100), in files/s and entries/s, with peak RSS, beside honest anchors on the same disk:
 *
 *   1. rebuild every projection from the log (what replay stands on), entries/s; no anchor.
 *   2. --shadow into an empty directory, files/s; anchor: a minimal loop writing the same
 *      YAML bytes to the same paths (mkdir + writeFile, as many at once as replay uses).
 *   3. --shadow again with nothing changed (the incremental path), files/s; same anchor.
 *   4. --into an empty directory, files/s; anchor: `cp -a` of the same tree.
 *   5. peak RSS over the run of 2, and its growth over the RSS before, at a tenth of the
 *      size and at the full size: it does not grow with the log (the tree is streamed).
 *
 * The log is made with explicit events (create, write, commit per file; ~1 KiB of content
 * each, stored in the block store), in entries of 2,000 events.
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Engine, initStore, replayShadow, type StoreEnv } from '../../engine/index.js';
import { BLOCK_SIZE, type FsEvent } from '../../log/index.js';
import { ProjectionSet, rebuild } from '../../projections/index.js';
import { collectGarbage, freshDir, MiB, PeakRss, rate, scaled, settle, timed } from './harness.js';
import type { Bench, BenchOptions, BenchResult, BenchRow } from './registry.js';

const exec = promisify(execFile);
const FULL_FILES = 100_000;
const PER_DIR = 100;
const EVENTS_PER_ENTRY = 2000;
const CONCURRENCY = 32;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function hexId(n: number): string {
  return n.toString(16).padStart(32, '0');
}

interface Built {
  readonly engine: Engine;
  readonly entries: number;
  readonly events: number;
  readonly files: number;
}

async function buildLog(dir: string, files: number, progress: (s: string) => void): Promise<Built> {
  let t = 1_700_000_000_000;
  let seed = 1;
  const env: StoreEnv = { now: () => t++, randomBytes: (n) => Uint8Array.from({ length: n }, () => (seed = (seed * 1103515245 + 12345) >>> 0) & 0xff) };
  await initStore(dir, env);
  const engine = await Engine.open(dir, env);
  let next = 1;
  const root = hexId(next++);
  let batch: FsEvent[] = [{ type: 'area-create', area: 'bench', root, mode: 0o755, uid: 1000, gid: 1000, time: t }];
  let entries = 0;
  let events = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    events += batch.length;
    await engine.appendEvents('bench', batch);
    entries++;
    batch = [];
  };
  const dirs = Math.ceil(files / PER_DIR);
  let made = 0;
  for (let d = 0; d < dirs; d++) {
    const dirId = hexId(next++);
    batch.push({ type: 'mkdir', id: dirId, parent: root, name: `dir-${String(d).padStart(5, '0')}`, mode: 0o755, uid: 1000, gid: 1000, time: t });
    const n = Math.min(PER_DIR, files - made);
    const contents = Array.from({ length: n }, (_, i) => Buffer.from(`file ${made + i} of the replay bench\n`.repeat(24)));
    const hashes = await engine.blocks.putMany(contents);
    for (let i = 0; i < n; i++) {
      const id = hexId(next++);
      const size = contents[i]!.byteLength;
      if (size > BLOCK_SIZE) throw new Error('bench content is one block');
      batch.push(
        { type: 'create', id, parent: dirId, name: `file-${String(made + i).padStart(6, '0')}.txt`, mode: 0o644, uid: 1000, gid: 1000, time: t },
        { type: 'write', id, size, blocks: [[0, hashes[i]!]], time: t },
        { type: 'commit', id, time: t },
      );
    }
    made += n;
    if (batch.length >= EVENTS_PER_ENTRY) await flush();
    if (d % 50 === 0) progress(`bench replay: building the log: ${made}/${files} files`);
  }
  await flush();
  await engine.flush();
  return { engine, entries, events, files };
}

/** Every file under `dir` (relative path, bytes), for the anchor loop. */
async function collect(dir: string, rel = ''): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  for (const d of await readdir(join(dir, rel), { withFileTypes: true })) {
    const r = rel === '' ? d.name : `${rel}/${d.name}`;
    if (d.isDirectory()) out.push(...(await collect(dir, r)));
    else if (d.isFile() && r !== '.realize-shadow.json') out.push([r, await readFile(join(dir, r))]);
  }
  return out;
}

/** The anchor: the same bytes to the same paths, with a minimal loop (mkdir each directory, then writeFile, CONCURRENCY at once). */
async function minimalLoop(dest: string, files: ReadonlyArray<[string, Buffer]>): Promise<void> {
  const dirsMade = new Map<string, Promise<unknown>>();
  let i = 0;
  const worker = async (): Promise<void> => {
    while (i < files.length) {
      const [rel, data] = files[i++]!;
      const slash = rel.lastIndexOf('/');
      const parent = slash < 0 ? '' : rel.slice(0, slash);
      if (parent !== '') {
        let made = dirsMade.get(parent);
        if (made === undefined) dirsMade.set(parent, (made = mkdir(join(dest, parent), { recursive: true })));
        await made;
      }
      await writeFile(join(dest, rel), data);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

interface ReplayMemory {
  readonly peak: number;
  readonly growth: number;
  /** The same of anonymous memory (heap, buffers), without the mapped LMDB pages; null off Linux. */
  readonly anon: { peak: number; growth: number } | null;
}

async function rssOfReplay(engine: Engine, dir: string): Promise<ReplayMemory> {
  collectGarbage();
  await settle();
  const rss = await PeakRss.start();
  await replayShadow(engine, dir, { mode: 'shadow' });
  const m = await rss.stop();
  return { ...m, anon: rss.anon };
}

export const replayBench: Bench = {
  name: 'replay',
  description: '`realize log replay --shadow/--into` of a log of 100,000 files, against a minimal write loop and cp -a',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const files = scaled(FULL_FILES, opts.scale, 200);
    const notes: string[] = [];
    const rows: BenchRow[] = [];

    // A tenth-size log first, for the memory comparison.
    const small = await buildLog(join(await freshDir(opts.dir, 'small'), 'store'), Math.max(100, Math.round(files / 10)), opts.progress);
    const smallRss = await rssOfReplay(small.engine, join(await freshDir(opts.dir, 'small-shadow'), 'out'));
    await small.engine.close();

    const built = await buildLog(join(await freshDir(opts.dir, 'store'), 'store'), files, opts.progress);
    const { engine } = built;
    try {
      // 1. Rebuild projections from the log.
      opts.progress('bench replay: rebuilding projections from the log');
      const scratch = ProjectionSet.open(await freshDir(opts.dir, 'scratch'));
      const rb = await timed(() => rebuild(scratch, engine.store.feeds));
      await scratch.close();
      rows.push({ workload: `rebuild projections from the log (${built.entries} entries, ${built.events} events)`, unit: 'entries/s', realize: rate(built.entries, rb.seconds), anchor: '—', anchorValue: null });
      rows.push({ workload: 'rebuild projections from the log', unit: 'events/s', realize: rate(built.events, rb.seconds), anchor: '—', anchorValue: null });

      // 2. --shadow into an empty directory (median of repeat runs), with the anchor.
      const times: number[] = [];
      let shadowDir = '';
      let rss: ReplayMemory = { peak: 0, growth: 0, anon: null };
      for (let r = 0; r < opts.repeat; r++) {
        opts.progress(`bench replay: --shadow, run ${r + 1}/${opts.repeat}`);
        shadowDir = join(await freshDir(opts.dir, 'shadow'), 'out');
        collectGarbage();
        await settle();
        const peak = await PeakRss.start();
        const s = await timed(() => replayShadow(engine, shadowDir, { mode: 'shadow', concurrency: CONCURRENCY }));
        const m = await peak.stop();
        if (m.peak > rss.peak) rss = { ...m, anon: peak.anon };
        times.push(s.seconds);
        if (r < opts.repeat - 1) await rm(shadowDir, { recursive: true, force: true });
      }
      const docs = await collect(shadowDir);
      const anchorTimes: number[] = [];
      for (let r = 0; r < opts.repeat; r++) {
        const dest = await freshDir(opts.dir, 'anchor-shadow');
        const a = await timed(() => minimalLoop(dest, docs));
        anchorTimes.push(a.seconds);
        await rm(dest, { recursive: true, force: true });
      }
      const shadowSec = median(times);
      rows.push({ workload: `--shadow into an empty dir, ${files} files (${docs.length} YAML documents)`, unit: 'files/s', realize: rate(files, shadowSec), anchor: 'minimal loop writing the same YAML', anchorValue: rate(files, median(anchorTimes)) });
      rows.push({ workload: '--shadow into an empty dir', unit: 'entries/s', realize: rate(built.entries, shadowSec), anchor: '—', anchorValue: null });

      // 3. Again, nothing changed.
      opts.progress('bench replay: --shadow again, nothing changed');
      const again = await timed(() => replayShadow(engine, shadowDir, { mode: 'shadow', concurrency: CONCURRENCY }));
      if (again.value.written !== 0) notes.push(`the incremental replay wrote ${again.value.written} documents (expected 0)`);
      rows.push({ workload: '--shadow again, nothing changed (reads and compares every document)', unit: 'files/s', realize: rate(files, again.seconds), anchor: 'minimal loop writing the same YAML', anchorValue: rate(files, median(anchorTimes)) });
      await rm(shadowDir, { recursive: true, force: true });

      // 4. --into, against cp -a of the same tree.
      opts.progress('bench replay: --into');
      const intoDir = join(await freshDir(opts.dir, 'into'), 'out');
      const into = await timed(() => replayShadow(engine, intoDir, { mode: 'into', concurrency: CONCURRENCY }));
      const cpDest = join(await freshDir(opts.dir, 'cp'), 'out');
      const cp = await timed(() => exec('cp', ['-a', intoDir, cpDest]).then(() => undefined, () => null));
      rows.push({ workload: `--into an empty dir, ${files} files`, unit: 'files/s', realize: rate(files, into.seconds), anchor: 'cp -a of the same tree', anchorValue: cp.value === null ? null : rate(files, cp.seconds) });
      rows.push({ workload: '--into an empty dir', unit: 'entries/s', realize: rate(built.entries, into.seconds), anchor: '—', anchorValue: null });
      await rm(intoDir, { recursive: true, force: true });
      await rm(cpDest, { recursive: true, force: true });

      // 5. Memory.
      rows.push({ workload: `--shadow peak RSS, ${files} files`, unit: 'MiB', realize: rss.peak / MiB, anchor: `the same at ${small.files} files`, anchorValue: smallRss.peak / MiB, better: 'lower' });
      rows.push({ workload: `--shadow RSS growth during the replay, ${files} files`, unit: 'MiB', realize: rss.growth / MiB, anchor: `the same at ${small.files} files`, anchorValue: smallRss.growth / MiB, better: 'lower' });
      if (rss.anon !== null && smallRss.anon !== null) {
        rows.push({ workload: `--shadow growth of anonymous memory (heap, buffers; no mapped files) during the replay, ${files} files`, unit: 'MiB', realize: rss.anon.growth / MiB, anchor: `the same at ${small.files} files`, anchorValue: smallRss.anon.growth / MiB, better: 'lower' });
      }
      notes.push(`log: ${files} files in ${Math.ceil(files / PER_DIR)} directories, ${built.entries} entries, ${built.events} events; --shadow writes its documents from one writer thread (synchronous calls, batches of 256); --into and the anchor loop keep ${CONCURRENCY} writes in flight`);
      notes.push('RSS includes the LMDB pages mapped while reading the projections (file-backed, reclaimable): it grows with the part of the tree touched, the JS heap does not');
      notes.push('the minimal-loop anchor is given the YAML bytes in memory (not timed: reading them back from disk); Realize reads the projections and renders every document');
      return { rows, notes };
    } finally {
      await engine.close();
    }
  },
};
