/**
 * The crash test, shared by spec/log/crash.test.ts and the soak (spec/soak/): run the child
 * (helpers/crash-child.ts), SIGKILL it at a seeded random moment, then reopen the store,
 * verify the feed and check that every acknowledged entry is present, unchanged, and that
 * every entry holds exactly what was appended. Repeat. A fresh store every `killsPerStore`
 * kills keeps each verification (which reads the whole feed) short.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { initStore, Store } from '../../../engine/index.js';
import { bytesEqual, encodeCanonical, feedName, toHex, verifyFeed, type Recovery } from '../../../log/index.js';
import { CRASH_KEY_LABEL, crashKey, eventsFor } from './crash-events.js';
import { fakeNow, seededRandom, seedFor, tempDir } from './util.js';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

export interface CrashOptions {
  readonly kills: number;
  readonly seed: number;
  /** Independent stores killed in parallel (each gets kills / lanes of the kills). */
  readonly lanes?: number;
  /** A fresh store after this many kills, so that verifying the whole feed stays quick. */
  readonly killsPerStore?: number;
  /** Longest wait after the child is ready before the kill, in ms. */
  readonly maxDelayMs?: number;
}

interface Cycle {
  acks: Map<number, string>;
  ready: number | null;
  signal: NodeJS.Signals | null;
  code: number | null;
  stderr: string;
  /** The child had to be killed by the 20 s safety timer: it hung. */
  hung: boolean;
}

interface LaneResult {
  kills: number;
  acked: number;
  tornReported: number;
  tornSimulated: number;
  unackedDurable: number;
  failures: string[];
}

export async function runCrashCycles(t: Test, opts: CrashOptions): Promise<void> {
  const children = new Set<ChildProcess>();
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });
  const base = await tempDir(t, 'realize-crash-');
  const lanes = opts.lanes ?? 1;
  const results = await Promise.all(
    Array.from({ length: lanes }, (_, i) => {
      const kills = Math.floor(opts.kills / lanes) + (i < opts.kills % lanes ? 1 : 0);
      return runLane(children, join(base, `lane-${i}`), kills, opts.seed + i * 7919, opts);
    }),
  );
  const sum = (f: (r: LaneResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  const failures = results.flatMap((r, i) => r.failures.map((f) => `lane ${i}, ${f}`));
  t.equal(sum((r) => r.kills), opts.kills, `${opts.kills} kills made`);
  t.same(failures, [], 'after every kill: the feed reopened and verified, every acknowledged entry was there unchanged, every entry held what was appended');
  t.ok(sum((r) => r.acked) > 0, `${sum((r) => r.acked)} appends were acknowledged in all`);
  t.ok(sum((r) => r.tornReported) >= sum((r) => r.tornSimulated), `${sum((r) => r.tornReported)} torn tails reported on reopening (${sum((r) => r.tornSimulated)} simulated)`);
  t.comment(`${sum((r) => r.unackedDurable)} kills left durable but unacknowledged entries`);
}

async function runLane(children: Set<ChildProcess>, dir: string, kills: number, seed: number, opts: CrashOptions): Promise<LaneResult> {
  const rnd = seededRandom(seed);
  const perStore = opts.killsPerStore ?? 25;
  const maxDelay = opts.maxDelayMs ?? 150;
  const env = { now: fakeNow(), randomBytes: (n: number) => (n === 32 ? seedFor(CRASH_KEY_LABEL) : new Uint8Array(n)) };
  const name = feedName({ author: crashKey().publicKey, area: '' });
  const res: LaneResult = { kills: 0, acked: 0, tornReported: 0, tornSimulated: 0, unackedDurable: 0, failures: [] };
  const failures = res.failures;
  let root = '';
  let acked = new Map<number, string>();
  let checkedUpTo = 0;

  for (let k = 0; k < kills && failures.length <= 20; k++) {
    if (k % perStore === 0) {
      if (root !== '') await rm(root, { recursive: true, force: true });
      root = join(dir, `store-${k}`);
      const { publicKey } = await initStore(root, env);
      if (publicKey !== toHex(crashKey().publicKey)) throw new Error('the crash store has an unexpected identity');
      acked = new Map();
      checkedUpTo = 0;
    }
    const cycle = await runChild(children, root, Math.floor(rnd() * 2 ** 31), rnd, maxDelay);
    if (cycle.signal !== 'SIGKILL') {
      failures.push(`kill ${k}: the child ended by itself (code ${cycle.code}, signal ${cycle.signal}): ${cycle.stderr.trim()}`);
      break;
    }
    res.kills++;
    if (cycle.hung) failures.push(`kill ${k}: the child hung (${cycle.ready === null ? 'never ready' : 'still running'} after 20 s)`);
    if (cycle.stderr !== '') failures.push(`kill ${k}: the child wrote to stderr: ${cycle.stderr.trim()}`);
    // Acknowledged sequence numbers are new (never acknowledged twice) and start where the feed stood.
    for (const [seq, hash] of cycle.acks) {
      if (acked.has(seq)) failures.push(`kill ${k}: entry ${seq} was acknowledged twice`);
      if (cycle.ready !== null && seq < cycle.ready) failures.push(`kill ${k}: entry ${seq} acknowledged below the opening length ${cycle.ready}`);
      acked.set(seq, hash);
    }
    res.acked += cycle.acks.size;

    // SIGKILL cannot split a small write() (the kernel finishes copying it into the page
    // cache), so the torn tail that a power cut leaves is simulated: sometimes the start of
    // one more, never acknowledged, frame is added after the last one. Recovery must then
    // report it and serve nothing of it, and the next writer must carry on past it.
    const torn = rnd() < 0.35 ? await tearTail(join(root, 'feeds', name), rnd) : false;
    if (torn) res.tornSimulated++;

    // Reopen: alternately writable (cuts a torn tail) and read-only (leaves it to the next writer).
    const recoveries: Recovery[] = [];
    const readOnly = k % 2 === 1;
    const store = await Store.open(root, env, { readOnly, onRecovery: (r) => recoveries.push(r) });
    try {
      res.tornReported += recoveries.length;
      if (torn && recoveries.length === 0) failures.push(`kill ${k}: a torn tail was left but the open did not report it`);
      const feed = store.feeds.get(name);
      const maxAck = Math.max(-1, ...acked.keys());
      if (feed === undefined) {
        if (maxAck >= 0) failures.push(`kill ${k}: the feed is gone but entry ${maxAck} was acknowledged`);
        continue;
      }
      const problem = await verifyFeed(feed);
      if (problem !== null) failures.push(`kill ${k}: verifyFeed: entry ${problem.seq} at byte ${problem.offset} of ${problem.segment}: ${problem.message}`);
      if (feed.length <= maxAck) failures.push(`kill ${k}: entry ${maxAck} was acknowledged but the feed holds ${feed.length} entries`);
      if (cycle.ready !== null && feed.length > cycle.ready + cycle.acks.size) res.unackedDurable++;
      const entries = await feed.read(0, feed.length);
      for (const [seq, hash] of acked) {
        const e = entries[seq];
        if (e === undefined) continue; // already reported through the length check
        if (toHex(e.hash) !== hash) failures.push(`kill ${k}: entry ${seq} is not the entry that was acknowledged`);
      }
      // Every entry, acknowledged or not, holds exactly what the child appended for its seq.
      for (let seq = checkedUpTo; seq < entries.length; seq++) {
        if (!bytesEqual(encodeCanonical(entries[seq]!.events), encodeCanonical(eventsFor(seq)))) failures.push(`kill ${k}: entry ${seq} holds other events`);
      }
      checkedUpTo = entries.length;
    } finally {
      await store.close();
    }
  }
  return res;
}

/** Appends the start of a frame (or zeros) to the feed's last segment; false when there is no feed yet. */
async function tearTail(feedDir: string, rnd: () => number): Promise<boolean> {
  const segs = (await readdir(feedDir).catch(() => [] as string[])).filter((n) => /^\d{16}\.seg$/.test(n)).sort();
  const last = segs.at(-1);
  if (last === undefined) return false;
  const shape = Math.floor(rnd() * 3);
  const len = 100 + Math.floor(rnd() * 4000);
  let tail: Buffer;
  if (shape === 0) tail = Buffer.alloc(1 + Math.floor(rnd() * 4096)); // preallocated, never written
  else {
    const frame = Buffer.alloc(8 + len);
    frame.writeUInt32LE(len, 0);
    frame.writeUInt32LE(Math.floor(rnd() * 2 ** 32), 4); // a checksum that will not match
    for (let i = 8; i < frame.byteLength; i++) frame[i] = Math.floor(rnd() * 256);
    // shape 1: cut inside the frame; shape 2: all of it, with a checksum mismatch.
    tail = shape === 1 ? frame.subarray(0, 1 + Math.floor(rnd() * (frame.byteLength - 1))) : frame;
  }
  await appendFile(join(feedDir, last), tail);
  return true;
}

function runChild(children: Set<ChildProcess>, root: string, seed: number, rnd: () => number, maxDelay: number): Promise<Cycle> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const cycle: Cycle = { acks: new Map(), ready: null, signal: null, code: null, stderr: '', hung: false };
    let buf = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    // One kill in ten lands during start-up (opening, recovering), the rest while appending.
    const early = rnd() < 0.1;
    const delay = Math.floor(rnd() * maxDelay);
    if (early) timer = setTimeout(kill, delay * 2);
    const safety = setTimeout(() => {
      cycle.hung = true;
      kill();
    }, 20_000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const ready = /^ready (\d+)$/.exec(line);
        if (ready) {
          cycle.ready = Number(ready[1]);
          if (!early) timer = setTimeout(kill, delay);
          continue;
        }
        const ack = /^(\d+) ([0-9a-f]{64})$/.exec(line);
        if (ack) cycle.acks.set(Number(ack[1]), ack[2]!);
        else cycle.stderr += `unexpected output: ${line}\n`;
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (cycle.stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(safety);
      children.delete(child);
      cycle.code = code;
      cycle.signal = signal;
      resolve(cycle);
    });
  });
}
