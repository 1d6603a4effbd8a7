/**
 * `realize bench log`: the log layer (log/feed.ts) against hypercore, doing the same work on
 * the same disk in the same run.
 *
 *   1. durable append of N events (~200 bytes each) in batches of 100, one append per batch:
 *      a. each batch awaited before the next is issued;
 *      b. pipelined: every batch issued at once (Realize's group commit merges them).
 *   2. N single-event appends issued without waiting for each other.
 *   3. full sequential read, decoding every event (of the log of 1, and of the log of 2).
 *   4. full verification (of the log of 1, and of the log of 2).
 *
 * Every workload starts on a fresh feed (Realize) or a fresh corestore (hypercore) in its own
 * directory under the same parent. Opening and closing are outside the timings. Reads and
 * verification reopen the log first, so they see a log at rest (warm in the page cache for
 * both sides, as it was just written).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import {
  decodeCbor,
  encodeCanonical,
  Feed,
  HybridClock,
  keyPairFromSeed,
  Signer,
  verifyFeed,
  type CborValue,
} from '../../log/index.js';
import { loadHypercore, type HypercoreAnchor, type HypercoreSession, type CorestoreInstance } from './anchors.js';
import { collectGarbage, freshDir, rate, scaled, settle, timed } from './harness.js';
import type { Bench, BenchOptions, BenchResult, BenchRow } from './registry.js';
import { fmtN } from './report.js';

const FULL_EVENTS = 100_000;
const BATCH = 100;
/** Realize reads in chunks of this many entries (what `realize log show` and verify do). */
const READ_CHUNK = 1024;
/** hypercore reads: this many `get`s in flight at once (its storage batches concurrent reads). */
const HC_READ_WINDOW = 1024;

// ---------------------------------------------------------------------------------------
// The events

/**
 * A realistic filesystem event of ~200 bytes of canonical CBOR: a write of one block of a
 * file. `random` supplies the 48 random bytes of the file id and block hash.
 */
export function makeEvent(i: number, now: number, random: Uint8Array = randomBytes(48)): CborValue {
  return {
    type: 'write',
    id: random.subarray(0, 16),
    path: `home/alice/projects/realize/notes/2024-06-${String(i % 30).padStart(2, '0')}-meeting-${i}.md`,
    offset: (i % 4096) * 65536,
    length: 65536,
    size: 1_234_567_890 + i,
    block: random.subarray(16, 48),
    mode: 0o100644,
    mtime: now + i,
    time: now + i,
  };
}

function makeEvents(n: number): CborValue[] {
  const now = Date.now();
  const random = new Uint8Array(randomBytes(48 * n));
  return Array.from({ length: n }, (_, i) => makeEvent(i, now, random.subarray(48 * i, 48 * i + 48)));
}

function batchesOf<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// ---------------------------------------------------------------------------------------
// Realize's side

interface RealizeLog {
  readonly feed: Feed;
  readonly reopen: () => Promise<Feed>;
}

async function openRealize(dir: string): Promise<RealizeLog> {
  const pair = keyPairFromSeed(new Uint8Array(randomBytes(32)));
  const id = { author: pair.publicKey, area: '' };
  const feed = await Feed.open(dir, id, { create: true, signer: new Signer(pair), clock: new HybridClock(() => Date.now()) });
  return { feed, reopen: () => Feed.open(dir, id, { readOnly: true }) };
}

async function realizeRead(feed: Feed): Promise<number> {
  let events = 0;
  for (let from = 0; from < feed.length; from += READ_CHUNK) {
    for (const e of await feed.read(from, from + READ_CHUNK)) events += e.events.length;
  }
  return events;
}

async function realizeVerify(feed: Feed): Promise<void> {
  const problem = await verifyFeed(feed);
  if (problem !== null) throw new Error(`bench log: the feed Realize just wrote does not verify: ${problem.message}`);
}

// ---------------------------------------------------------------------------------------
// hypercore's side

interface HypercoreLog {
  readonly store: CorestoreInstance;
  readonly core: HypercoreSession;
}

async function openHypercore(anchor: HypercoreAnchor, dir: string): Promise<HypercoreLog> {
  const store = anchor.openStore(dir);
  const core = store.get({ name: 'bench' });
  await core.ready();
  return { store, core };
}

async function closeHypercore(h: HypercoreLog): Promise<void> {
  await h.core.close();
  await h.store.close();
}

/** The same events, each encoded the same way (canonical CBOR) into one block. */
function encodeBlocks(events: readonly CborValue[]): Uint8Array[] {
  return events.map((e) => encodeCanonical(e));
}

/**
 * Reads every block in order and decodes it. hypercore's own sequential reader
 * (createReadStream) awaits one `get` at a time; keeping a window of `get`s in flight lets its
 * storage batch the reads and is faster, so that is what is measured (the better of the two
 * for hypercore; see the comment on HC_READ_WINDOW).
 */
async function hypercoreRead(core: HypercoreSession): Promise<number> {
  let events = 0;
  const length = core.length;
  for (let from = 0; from < length; from += HC_READ_WINDOW) {
    const to = Math.min(length, from + HC_READ_WINDOW);
    const gets: Promise<Uint8Array | null>[] = [];
    for (let i = from; i < to; i++) gets.push(core.get(i, { wait: false }));
    for (const block of await Promise.all(gets)) {
      if (block === null) throw new Error('bench log: hypercore lost a block it just appended');
      decodeCbor(block);
      events++;
    }
  }
  return events;
}

/**
 * hypercore's honest equivalent of verifyFeed. Its trust chain is: one Ed25519 signature over
 * the Merkle tree roots (+ length, fork) -> the tree -> the blocks. Only the latest signature
 * is stored (each append re-signs the new roots), so full verification is:
 *   - core.audit({ dryRun: true }) (lib/audit.js): recomputes every parent node of the Merkle
 *     tree from its two children (crypto.parent = BLAKE2b of both hashes and sizes), every
 *     block's leaf hash from the block bytes (crypto.data), checks sizes, and that every bit
 *     set in the bitfield has its block; dryRun reports instead of deleting what is bad;
 *   - the stored signature over the current roots, checked with the core's verifier
 *     (the same check a replicating peer makes on a proof's upgrade).
 * It is not offered as one public call in 11.37.1, so this reaches `session.core.audit` and
 * `session.core.verifier`, which `hypercore`'s own repair code uses.
 */
async function hypercoreVerify(core: HypercoreSession): Promise<void> {
  const stats = await core.core.audit({ dryRun: true });
  if (stats === null || stats.corrupt || stats.droppedBlocks + stats.droppedTreeNodes + stats.droppedBits > 0) {
    throw new Error(`bench log: hypercore's audit found damage: ${JSON.stringify(stats)}`);
  }
  if (stats.blocks !== core.length) throw new Error(`bench log: hypercore's audit checked ${stats.blocks} of ${core.length} blocks`);
  const batch = core.state.createTreeBatch();
  if (!core.core.verifier.verify(batch, core.state.signature)) throw new Error("bench log: hypercore's signature over its tree does not verify");
}

// ---------------------------------------------------------------------------------------
// The run

interface Sides {
  readonly realize: number | null;
  readonly anchor: number | null;
}

export const logBench: Bench = {
  name: 'log',
  description: 'durable appends, reads and verification of a signed log, against hypercore',
  async run(options: BenchOptions): Promise<BenchResult> {
    const loaded = await loadHypercore();
    const anchor = loaded.ok ? loaded.anchor : null;
    const anchorName = anchor?.label ?? 'hypercore (missing)';
    const n = scaled(FULL_EVENTS, options.scale, BATCH);
    const reps = options.repeat;
    const work = options.dir;
    const events = makeEvents(n);
    const batches = batchesOf(events, BATCH);
    const say = options.progress;
    const rows: BenchRow[] = [];
    const row = (workload: string, s: Sides): void => {
      rows.push({ workload, unit: 'events/s', realize: s.realize, anchor: anchorName, anchorValue: s.anchor });
    };
    const ctx: Ctx = { work, anchor, reps, say, pauseMs: Math.round(100 * Math.min(1, options.scale * 10)) };

    // Warm both sides' code paths up (JIT, lazy loading) on a small log first.
    say('log: warming up');
    await warmUp(work, anchor, events.slice(0, Math.min(n, 2000)));

    // 1a. Batches, each awaited.
    const awaited = await writeWorkload(
      ctx,
      'batched-awaited',
      async (log) => {
        for (const b of batches) await log.feed.append(b);
      },
      async (h) => {
        for (const b of batches) await h.core.append(encodeBlocks(b));
      },
    );
    row(`append ${fmtN(n)} events, batches of ${BATCH}, each awaited (fsync: Realize only)`, rates(n, awaited));

    // 1b. Batches, all issued at once.
    const pipelined = await writeWorkload(
      ctx,
      'batched-pipelined',
      async (log) => {
        await Promise.all(batches.map((b) => log.feed.append(b)));
      },
      async (h) => {
        await Promise.all(batches.map((b) => h.core.append(encodeBlocks(b))));
      },
    );
    row(`append ${fmtN(n)} events, batches of ${BATCH}, pipelined (fsync: Realize only)`, rates(n, pipelined));
    await removeLogs(pipelined);

    // 2. Single-event appends, all issued at once.
    const single = await writeWorkload(
      ctx,
      'single',
      async (log) => {
        await Promise.all(events.map((e) => log.feed.append([e])));
      },
      async (h) => {
        await Promise.all(events.map((e) => h.core.append(encodeCanonical(e))));
      },
    );
    row(`append ${fmtN(n)} single events, issued at once (fsync: Realize only)`, rates(n, single));

    // The events are not needed any more: let them go, so that the heap the reads run in is
    // not 100,000 objects larger than a reader's would be (it slows every GC of both sides).
    const sample = events.slice(0, 1000);
    const eventBytes = Math.round(sample.reduce<number>((s, e) => s + encodeCanonical(e).byteLength, 0) / sample.length);
    const entries = batches.length;
    events.length = 0;
    batches.length = 0;
    collectGarbage();

    // 3, 4. Read and verify the logs of 1a (n/100 entries) and of 2 (n entries).
    for (const [source, label] of [
      [awaited, `${fmtN(entries)} entries of ${BATCH}`],
      [single, `${fmtN(n)} entries of 1`],
    ] as const) {
      const read = await readWorkload(
        ctx,
        source,
        `reading ${label}`,
        async (feed) => check(await realizeRead(feed), n, 'Realize read'),
        async (core) => check(await hypercoreRead(core), n, 'hypercore read'),
      );
      row(`sequential read, decoding every event (log of ${label})`, rates(n, read));
      const verify = await readWorkload(ctx, source, `verifying ${label}`, realizeVerify, hypercoreVerify);
      row(`full verification (log of ${label})`, rates(n, verify));
      await removeLogs(source);
    }

    const notes = [
      `${fmtN(n)} filesystem write events of ~${eventBytes} bytes (canonical CBOR; one block each for hypercore); Realize signs one Ed25519 signature per entry (one per append call), hypercore one per append call.`,
      `each figure is the median of ${reps} run${reps === 1 ? '' : 's'} (Realize and hypercore alternating), each on a fresh log in ${work}.`,
      'durability: Realize acknowledges an append after write + fdatasync of its segment; hypercore never fsyncs (RocksDB writes its WAL unsynced), so acknowledged appends can be lost on power loss.',
      "hypercore verification = core.audit({dryRun:true}) (every Merkle parent and block hash recomputed) + its one stored signature, over the tree roots; Realize's verifyFeed checks every frame CRC, chain link, sequence number and every entry's Ed25519 signature.",
      `hypercore reads keep ${HC_READ_WINDOW} gets in flight (2-3x faster than its one-at-a-time createReadStream); both sides decode every event; both logs were just written (warm page cache).`,
      ...(loaded.ok ? [] : [loaded.reason]),
    ];
    return { rows, notes };
  },
};

function check(got: number, want: number, what: string): void {
  if (got !== want) throw new Error(`bench log: ${what} saw ${got} events, expected ${want}`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Events per second from the median times. */
function rates(n: number, s: { realize: number[]; anchor: number[] }): Sides {
  return { realize: rate(n, median(s.realize)), anchor: s.anchor.length === 0 ? null : rate(n, median(s.anchor)) };
}

interface Ctx {
  readonly work: string;
  readonly anchor: HypercoreAnchor | null;
  readonly reps: number;
  readonly pauseMs: number;
  readonly say: (text: string) => void;
}

/** Seconds per run of each side, and the logs the last run left, to be read and verified. */
interface Written {
  readonly realize: number[];
  readonly anchor: number[];
  readonly realizeLog: { readonly dir: string; readonly reopen: () => Promise<Feed> };
  readonly anchorDir: string | null;
}

async function removeLogs(w: Written): Promise<void> {
  await rm(w.realizeLog.dir, { recursive: true, force: true });
  if (w.anchorDir !== null) await rm(w.anchorDir, { recursive: true, force: true });
}

/**
 * Lets background work of the previous phase (RocksDB threads, GC, writeback) die down:
 * 100 ms on a full run, less on a scaled-down one.
 */
async function quiesce(ctx: Ctx): Promise<void> {
  await settle();
  await new Promise((r) => setTimeout(r, ctx.pauseMs));
}

/**
 * Runs a write workload `reps` times on each side, alternating, each time on a fresh Realize
 * feed / fresh corestore; keeps the last logs.
 */
async function writeWorkload(
  ctx: Ctx,
  name: string,
  realize: (log: RealizeLog) => Promise<void>,
  hypercore: (h: HypercoreLog) => Promise<void>,
): Promise<Written> {
  const out = { realize: [] as number[], anchor: [] as number[] };
  let realizeLog: Written['realizeLog'] | null = null;
  let anchorDir: string | null = null;
  for (let rep = 0; rep < ctx.reps; rep++) {
    const of = ctx.reps > 1 ? ` (${rep + 1}/${ctx.reps})` : '';
    ctx.say(`log: ${name}, Realize${of}`);
    if (realizeLog !== null) await rm(realizeLog.dir, { recursive: true, force: true });
    const rdir = await freshDir(ctx.work, `realize-${name}`);
    const log = await openRealize(rdir);
    await quiesce(ctx);
    out.realize.push((await timed(() => realize(log))).seconds);
    await log.feed.close();
    realizeLog = { dir: rdir, reopen: log.reopen };
    if (ctx.anchor !== null) {
      ctx.say(`log: ${name}, ${ctx.anchor.label}${of}`);
      if (anchorDir !== null) await rm(anchorDir, { recursive: true, force: true });
      anchorDir = await freshDir(ctx.work, `hypercore-${name}`);
      const h = await openHypercore(ctx.anchor, anchorDir);
      await quiesce(ctx);
      out.anchor.push((await timed(() => hypercore(h))).seconds);
      await closeHypercore(h);
    }
  }
  return { ...out, realizeLog: realizeLog!, anchorDir };
}

/** Reopens the logs a write workload left, then times `realize` and `hypercore` on them, `reps` times each. */
async function readWorkload(
  ctx: Ctx,
  written: Written,
  name: string,
  realize: (feed: Feed) => Promise<void>,
  hypercore: (core: HypercoreSession) => Promise<void>,
): Promise<{ realize: number[]; anchor: number[] }> {
  const out = { realize: [] as number[], anchor: [] as number[] };
  for (let rep = 0; rep < ctx.reps; rep++) {
    const of = ctx.reps > 1 ? ` (${rep + 1}/${ctx.reps})` : '';
    ctx.say(`log: ${name}, Realize${of}`);
    const feed = await written.realizeLog.reopen();
    await quiesce(ctx);
    out.realize.push((await timed(() => realize(feed))).seconds);
    await feed.close();
    if (ctx.anchor !== null && written.anchorDir !== null) {
      ctx.say(`log: ${name}, ${ctx.anchor.label}${of}`);
      const h = await openHypercore(ctx.anchor, written.anchorDir);
      await quiesce(ctx);
      out.anchor.push((await timed(() => hypercore(h.core))).seconds);
      await closeHypercore(h);
    }
  }
  return out;
}

async function warmUp(work: string, anchor: HypercoreAnchor | null, events: readonly CborValue[]): Promise<void> {
  const batches = batchesOf(events, BATCH);
  const rdir = await freshDir(work, 'warmup-realize');
  const log = await openRealize(rdir);
  for (const b of batches) await log.feed.append(b);
  await Promise.all(events.map((e) => log.feed.append([e])));
  await realizeRead(log.feed);
  await realizeVerify(log.feed);
  await log.feed.close();
  await rm(rdir, { recursive: true, force: true });
  if (anchor !== null) {
    const hdir = await freshDir(work, 'warmup-hypercore');
    const h = await openHypercore(anchor, hdir);
    for (const b of batches) await h.core.append(encodeBlocks(b));
    await Promise.all(events.map((e) => h.core.append(encodeCanonical(e))));
    await hypercoreRead(h.core);
    await hypercoreVerify(h.core);
    await closeHypercore(h);
    await rm(hdir, { recursive: true, force: true });
  }
}
