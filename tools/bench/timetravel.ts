/**
 * `realize bench timetravel`: as-of queries on a big log. It builds a store whose log holds
 * 1,000,000 events over 100,000 files (at --scale 1), appended straight through
 * Engine.appendEvents in entries of ~1,000 events the way import does, with:
 *
 *   - 100 directories of 1,000 files each, one of which (d000) keeps being churned
 *     (renames, deletes and re-creates, new versions) so that its past listings differ;
 *   - hot.txt: one file with 1,000 versions (one per entry, spread over the whole log);
 *   - big.bin: a 1 MiB file rewritten with different blocks every ~100 entries;
 *   - the rest: new versions, chmods, mtimes, xattrs, renames and re-creates of random files.
 *
 * Then it times, at random past positions and at the head, what the commands do (through the
 * engine's Snapshot, without process start-up): `ls` of the 1,000-entry directory, `stat` of
 * a file in it, `cat` of the 1 MiB file, and `history` of the file with 1,000 versions. The
 * anchor of each past query is the same query at the head (ratio = head/past: 1 means the past
 * is as fast as the present); history has no position, so its anchor is the index-less way to
 * answer it: a scan of the whole log for the entries that touch the file. A last row sets the
 * index on disk (the projections' LMDB environment) against the log on disk (feeds/).
 */
import { randomBytes } from 'node:crypto';
import type { Database, Key } from 'lmdb';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_SIZE, type FsEvent, type NodeId } from '../../log/index.js';
import { Engine, history, initStore, type StoreEnv } from '../../engine/index.js';
import { freshDir, scaled, Stopwatch } from './harness.js';
import type { Bench, BenchOptions, BenchResult, BenchRow } from './registry.js';
import { mulberry32 as prng } from './prng.js';

const FULL_EVENTS = 1_000_000;
const FULL_FILES = 100_000;
const FULL_DIR = 1_000;
const FULL_VERSIONS = 1_000;
const EVENTS_PER_ENTRY = 1_000;
const BIG_BYTES = 1024 * 1024;
const POSITIONS = 20;
const SMALL_BYTES = 1000;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function duBytes(path: string): Promise<number> {
  let total = 0;
  for (const d of await readdir(path, { withFileTypes: true })) {
    const p = join(path, d.name);
    if (d.isDirectory()) total += await duBytes(p);
    else if (d.isFile()) total += (await stat(p)).blocks * 512;
  }
  return total;
}

interface FileState {
  readonly id: NodeId;
  dir: number;
  name: string;
}

interface Built {
  readonly engine: Engine;
  readonly events: number;
  readonly files: number;
  readonly entries: number;
  readonly hotPath: string;
  readonly bigPath: string;
  readonly dirPath: string;
  /** The first position at which the 1,000-entry directory is full and the big file exists. */
  readonly firstFull: number;
  readonly seconds: number;
}

/** Builds the log (and its projections, applied as each entry is appended). */
async function build(root: string, scale: number, progress: (s: string) => void): Promise<Built> {
  const clock = { t: Date.UTC(2026, 0, 1) };
  const env: StoreEnv = { now: () => clock.t, randomBytes: (n) => new Uint8Array(randomBytes(n)) };
  await initStore(root, env);
  const engine = await Engine.open(root, env);
  const watch = new Stopwatch();
  const rnd = prng(42);
  const targetEvents = scaled(FULL_EVENTS, scale, 2000);
  const fileCount = scaled(FULL_FILES, scale, 200);
  const dirSize = Math.min(fileCount, scaled(FULL_DIR, scale, 10));
  const dirCount = Math.ceil(fileCount / dirSize);
  const versions = scaled(FULL_VERSIONS, scale, 10);
  const owner = { uid: 1000, gid: 1000 };

  await engine.run({ type: 'mkdir', path: '/bench', mode: 0o755, owner });
  const area = 'bench';
  const rootId = engine.stat('/bench').id;

  // Content: a few distinct small blocks for the many files, and 128 KiB blocks for big.bin.
  const small = await engine.blocks.putMany(Array.from({ length: 16 }, (_, k) => Buffer.alloc(SMALL_BYTES, k + 1)));
  const bigBlocks = await engine.blocks.putMany(Array.from({ length: 24 }, (_, k) => randomBlock(k)));
  await engine.blocks.sync();
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

  let events = 0;
  let entries = 0;
  let pending: FsEvent[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    clock.t += 1000;
    const batch = pending;
    pending = [];
    await engine.appendEvents(area, batch);
    events += batch.length;
    entries++;
    if (entries % 20 === 0) progress(`timetravel: building the log: ${events.toLocaleString('en-US')}/${targetEvents.toLocaleString('en-US')} events`);
  };
  const emit = async (...evs: FsEvent[]): Promise<void> => {
    pending.push(...evs);
    if (pending.length >= EVENTS_PER_ENTRY) await flush();
  };
  const now = (): number => clock.t;
  const newVersion = (id: NodeId): FsEvent[] => [
    { type: 'write', id, size: SMALL_BYTES, blocks: [[0, pick(small)]], time: now() },
    { type: 'commit', id, time: now() },
  ];

  // The directories, and every file with a first version.
  const dirIds: NodeId[] = [];
  for (let d = 0; d < dirCount; d++) {
    const id = engine.newId();
    dirIds.push(id);
    await emit({ type: 'mkdir', id, parent: rootId, name: `d${String(d).padStart(3, '0')}`, mode: 0o755, ...owner, time: now() });
  }
  const files: FileState[] = [];
  const names = dirIds.map(() => new Set<string>());
  for (let k = 0; k < fileCount; k++) {
    const dir = Math.floor(k / dirSize);
    const f: FileState = { id: engine.newId(), dir, name: `f${k}` };
    files.push(f);
    names[dir]!.add(f.name);
    await emit({ type: 'create', id: f.id, parent: dirIds[dir]!, name: f.name, mode: 0o644, ...owner, time: now() }, ...newVersion(f.id));
  }
  const hot: NodeId = engine.newId();
  const big: NodeId = engine.newId();
  const bigVersion = (): FsEvent[] => {
    const blocks = Array.from({ length: BIG_BYTES / BLOCK_SIZE }, (_, i) => [i, pick(bigBlocks)] as const);
    return [
      { type: 'write', id: big, size: BIG_BYTES, blocks, time: now() },
      { type: 'commit', id: big, time: now() },
    ];
  };
  await emit(
    { type: 'create', id: hot, parent: rootId, name: 'hot.txt', mode: 0o644, ...owner, time: now() },
    { type: 'create', id: big, parent: rootId, name: 'big.bin', mode: 0o644, ...owner, time: now() },
    ...bigVersion(),
  );
  await flush();
  const firstFull = engine.projections.head;

  // Churn until the log holds the target: each entry carries one version of hot.txt, every
  // ~100th a new big.bin; the rest are random changes, a quarter of them in d000.
  const churnEntries = Math.max(versions, Math.ceil((targetEvents - events) / EVENTS_PER_ENTRY));
  let generation = 0;
  for (let e = 0; e < churnEntries; e++) {
    const budget = Math.max(0, Math.min(EVENTS_PER_ENTRY, targetEvents - events) - 2);
    if (e < versions) {
      pending.push(
        { type: 'write', id: hot, size: 16, blocks: [[0, pick(small)]], time: now() },
        { type: 'commit', id: hot, time: now() },
      );
    }
    if (e % 100 === 50) pending.push(...bigVersion());
    while (pending.length < budget) {
      const k = Math.floor(rnd() * (rnd() < 0.25 ? Math.min(dirSize, files.length) : files.length));
      const f = files[k]!;
      const r = rnd();
      const parent = dirIds[f.dir]!;
      if (r < 0.5) pending.push(...newVersion(f.id));
      else if (r < 0.7) pending.push({ type: 'setattr', id: f.id, mode: rnd() < 0.5 ? 0o600 : 0o644, mtime: now() - Math.floor(rnd() * 1e6), time: now() });
      else if (r < 0.8) pending.push({ type: 'setxattr', id: f.id, name: 'user.tag', value: Buffer.from(`v${e}`), time: now() });
      else if (r < 0.9) {
        const to = `${f.name.split('~')[0]}~${++generation}`;
        if (names[f.dir]!.has(to)) continue;
        pending.push({ type: 'rename', id: f.id, parent, name: f.name, newParent: parent, newName: to, time: now() });
        names[f.dir]!.delete(f.name);
        names[f.dir]!.add(to);
        f.name = to;
      } else {
        // Deleted, and a new file takes its name (a re-create).
        const id = engine.newId();
        pending.push(
          { type: 'unlink', id: f.id, parent, name: f.name, time: now() },
          { type: 'create', id, parent, name: f.name, mode: 0o644, ...owner, time: now() },
          ...newVersion(id),
        );
        files[k] = { id, dir: f.dir, name: f.name };
      }
    }
    await flush();
  }
  await flush();
  await engine.flush();
  return {
    engine,
    events,
    files: fileCount,
    entries,
    hotPath: '/bench/hot.txt',
    bigPath: '/bench/big.bin',
    dirPath: '/bench/d000',
    firstFull,
    seconds: watch.seconds,
  };
}

function randomBlock(k: number): Buffer {
  const r = prng(1000 + k);
  const b = Buffer.alloc(BLOCK_SIZE);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32LE((r() * 2 ** 32) >>> 0, i);
  return b;
}

/** ms of one call, best of a few (the first warms the page cache and LMDB's read txn). */
async function ms(fn: () => unknown, tries = 3): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < tries; i++) {
    const w = new Stopwatch();
    await fn();
    best = Math.min(best, w.seconds * 1000);
  }
  return best;
}

/** The index-less history: every entry of the log scanned for events naming the file. */
async function scanHistory(engine: Engine, id: NodeId): Promise<number> {
  let hits = 0;
  for (const feed of engine.store.feeds.list()) {
    for (let from = 0; from < feed.length; from += 256) {
      for (const e of await feed.read(from, Math.min(feed.length, from + 256))) {
        if (e.events.some((ev) => (ev as { id?: unknown }).id === id)) hits++;
      }
    }
  }
  return hits;
}

export const timetravelBench: Bench = {
  name: 'timetravel',
  description: 'as-of queries (ls, stat, cat, history) at past positions of a 1M-event log, against the same at the head',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const root = join(await freshDir(opts.dir, 'timetravel'), 'store');
    const built = await build(root, opts.scale, opts.progress);
    const { engine } = built;
    try {
      opts.progress('timetravel: querying');
      const head = engine.projections.head;
      const rnd = prng(7);
      const positions = Array.from({ length: POSITIONS }, () => built.firstFull + Math.floor(rnd() * (head - built.firstFull)));
      const reps = Math.max(1, opts.repeat);

      const ls = async (n: number): Promise<number> => {
        const snap = engine.at(n);
        return ms(() => {
          snap.stat(built.dirPath);
          return snap.readdir(built.dirPath).length;
        }, reps);
      };
      const statOne = async (n: number): Promise<number> => {
        const snap = engine.at(n);
        const names = snap.readdir(built.dirPath).map((e) => e.name);
        const paths = Array.from({ length: 100 }, (_, k) => `${built.dirPath}/${names[(k * 37) % names.length]}`);
        const total = await ms(() => {
          for (const p of paths) {
            const i = snap.stat(p);
            snap.storedSize(i.id);
          }
        }, reps);
        return total / paths.length;
      };
      const cat = async (n: number): Promise<number> => {
        const snap = engine.at(n);
        return ms(async () => {
          const i = snap.stat(built.bigPath);
          const data = await snap.read(i.id, 0, i.size);
          if (data.byteLength !== BIG_BYTES) throw new Error(`big.bin at @${n} holds ${data.byteLength} bytes`);
        }, reps);
      };

      const rows: BenchRow[] = [];
      const versions = scaled(FULL_VERSIONS, opts.scale, 10);
      const dirEntries = engine.head.readdir(built.dirPath).length;
      const pastVsHead = async (workload: string, q: (n: number) => Promise<number>): Promise<void> => {
        const past: number[] = [];
        const now: number[] = [];
        for (const n of positions) {
          past.push(await q(n));
          now.push(await q(head));
        }
        rows.push({ workload, unit: 'ms', realize: median(past), anchor: 'same query at the head', anchorValue: median(now) });
      };
      await pastVsHead(`ls of a ${dirEntries}-entry directory at a random past position`, ls);
      await pastVsHead('stat of a file at a random past position', statOne);
      await pastVsHead(`cat of a ${BIG_BYTES / 1024 / 1024} MiB file at a random past position`, cat);

      const hotId = engine.stat(built.hotPath).id;
      let items = 0;
      const hist = await ms(async () => {
        items = (await history(engine, built.hotPath)).length;
      }, reps);
      // CPU time of the same query (less moved by the machine's load than its wall time): best of 5.
      let histCpu = Infinity;
      for (let i = 0; i < 5; i++) {
        const c0 = process.cpuUsage();
        await history(engine, built.hotPath);
        const c = process.cpuUsage(c0);
        histCpu = Math.min(histCpu, (c.user + c.system) / 1000);
      }
      const scan = await ms(() => scanHistory(engine, hotId), 1);
      rows.push({ workload: `history of a file with ${versions} versions (${items} items)`, unit: 'ms', realize: hist, anchor: 'scan of the whole log', anchorValue: scan });

      const logBytes = await duBytes(engine.store.layout.feeds);
      const indexBytes = await duBytes(engine.store.layout.projections);
      rows.push({ workload: 'index on disk (projections LMDB, current + history rows)', unit: 'MiB', realize: indexBytes / 2 ** 20, anchor: 'the log on disk (feeds/)', anchorValue: logBytes / 2 ** 20 });

      const dbBytes = historyDbBytes(engine);
      return {
        rows,
        notes: [
          `log: ${built.events.toLocaleString('en-US')} events in ${built.entries.toLocaleString('en-US')} entries over ${built.files.toLocaleString('en-US')} files (head @${head}), built in ${built.seconds.toFixed(1)} s through Engine.appendEvents (projections applied as each entry is appended).`,
          `past positions: ${POSITIONS} drawn at random from @${built.firstFull}..@${head - 1}; each figure is the median over them of the best of ${reps} tries; the head query is timed right after each past one.`,
          `history of ${versions} versions: ${histCpu.toFixed(1)} ms of CPU (best of 5).`,
          'queries go through Engine.at(n) / Engine.head (the Snapshot the CLI commands use), without process start-up or position parsing; stat is per file, averaged over 100 files of the directory.',
          `LMDB pages in use: history rows (superseded values, commits, touches, directory changes and listings) ${(dbBytes.history / 2 ** 20).toFixed(1)} MiB, current rows ${(dbBytes.current / 2 ** 20).toFixed(1)} MiB, undo records ${(dbBytes.undo / 2 ** 20).toFixed(1)} MiB, positions ${(dbBytes.positions / 2 ** 20).toFixed(1)} MiB, other ${(dbBytes.other / 2 ** 20).toFixed(1)} MiB (the file also holds free pages).`,
          `per sub-database (pages in use, rows, bytes per row, leaf fill): ${dbBytes.each.map((d) => `${d.name} ${(d.bytes / 2 ** 20).toFixed(1)} MiB, ${d.entries.toLocaleString('en-US')} rows, ${d.entries > 0 ? Math.round(d.bytes / d.entries) : 0} B/row, ${d.fill}% full`).join('; ')}; free pages ${(dbBytes.free / 2 ** 20).toFixed(1)} MiB.`,
          'goal: every past query under 50 ms and within 3x of the same query at the head (ratio >= 0.33); the index no larger than the log (ratio >= 1).',
        ],
      };
    } finally {
      await engine.close();
    }
  },
};

/** Bytes of the LMDB pages each kind of sub-database uses. */
interface DbSize {
  readonly name: string;
  readonly bytes: number;
  readonly entries: number;
  /** How full the leaf pages are, in percent (their bytes over their pages). */
  readonly fill: number;
}

function historyDbBytes(engine: Engine): { history: number; current: number; positions: number; undo: number; other: number; free: number; each: DbSize[] } {
  const out = { history: 0, current: 0, positions: 0, undo: 0, other: 0, free: 0, each: [] as DbSize[] };
  const p = engine.projections;
  const dbs: Array<readonly [string, { getStats(): unknown }]> = [...p.all.flatMap((x) => x.dbs), ...p.positions.dbs, ...p.touches.dbs, ['undo', p.undo.db]];
  for (const [name, db] of dbs) {
    const s = db.getStats() as { pageSize?: number; treeBranchPageCount?: number; treeLeafPageCount?: number; overflowPages?: number; entryCount?: number };
    const bytes = (s.pageSize ?? 4096) * ((s.treeBranchPageCount ?? 0) + (s.treeLeafPageCount ?? 0) + (s.overflowPages ?? 0));
    if (bytes > 0) out.each.push({ name, bytes, entries: s.entryCount ?? 0, fill: leafFill(db as Database<unknown, Key>, s.treeLeafPageCount ?? 0, s.pageSize ?? 4096) });
    if (name.endsWith('-history') || ['touches', 'tree-dirlog', 'tree-listings'].includes(name)) out.history += bytes;
    else if (name === 'undo') out.undo += bytes;
    else if (name.startsWith('positions')) out.positions += bytes;
    else if (['tree-nodes', 'tree-dirents', 'tree-areas', 'content-rows', 'xattrs', 'inode-by-id'].includes(name)) out.current += bytes;
    else out.other += bytes;
  }
  out.each.sort((a, b) => b.bytes - a.bytes);
  const env = engine.projections.env.getStats() as { pageSize?: number; freelistEntryCount?: number; lastPageNumber?: number; treeBranchPageCount?: number; treeLeafPageCount?: number; overflowPages?: number };
  const used = out.each.reduce((t, d) => t + d.bytes, 0) + (env.pageSize ?? 4096) * ((env.treeBranchPageCount ?? 0) + (env.treeLeafPageCount ?? 0) + (env.overflowPages ?? 0));
  out.free = Math.max(0, (env.pageSize ?? 4096) * ((env.lastPageNumber ?? 0) + 1) - used);
  return out;
}

/**
 * The share of its leaf pages' bytes a sub-database fills: keys and values as stored plus
 * LMDB's 8-byte node header and 2-byte slot per row (values past half a page go to overflow
 * pages and count as 8 bytes here), from a scan of every row.
 */
function leafFill(db: Database<unknown, Key>, leafPages: number, pageSize: number): number {
  if (leafPages === 0) return 0;
  let used = 0;
  // The key as stored: lmdb-js's own writer of this sub-database's keys.
  const writeKey = (db as unknown as { writeKey: (key: Key, target: Buffer, start: number) => number }).writeKey;
  const scratch = Buffer.alloc(4096);
  for (const key of db.getKeys()) {
    const k = writeKey(key, scratch, 0);
    const v = db.getBinaryFast(key)?.length ?? 0;
    used += 10 + k + (v > pageSize / 2 ? 8 : v);
  }
  return Math.round((100 * used) / (leafPages * (pageSize - 16)));
}
