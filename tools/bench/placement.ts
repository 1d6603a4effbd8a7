/**
 * `realize bench placement`: reading Unreal content over loopback. Peer A holds a file (1 GiB
 * at scale 1) and runs `realize serve` in a child process (its own CPU, as a real peer
 * would); peer B, in this process, holds the file Unreal (metadata only) and reads it through
 * its engine, which fetches the blocks from A as the reads need them:
 *
 *   1. time to first byte: a 4 KiB read at a random offset of a block that is not here (the
 *      median of several), against the same read once the file is Real here;
 *   2. streaming: the whole file read front to back in 1 MiB reads into one buffer (read-ahead
 *      fetching the blocks before the reads reach them), against the same file Real here (the same reads,
 *      every block local), and against a plain read of the same bytes as an ordinary file on
 *      the other peer's disk (node:fs, 1 MiB reads).
 *
 * Goals: first byte under 20 ms on loopback; Unreal streaming at least half the speed of Real.
 * Every read is checked against what A wrote (off the clock).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, initStore } from '../../engine/index.js';
import { markPath } from '../../engine/placement/index.js';
import { addPeer, setFollow, SyncNode } from '../../engine/sync/index.js';
import { BLOCK_SIZE, type PlacementMark } from '../../log/index.js';
import { freshDir, MiB, Stopwatch } from './harness.js';
import { fuseUsable, startRealize } from './mount-helpers.js';
import { freePort, run, stopChild } from './proc-helpers.js';
import { systemEnv as env } from '../cli-context.js';
import type { Bench, BenchOptions, BenchResult, BenchRow } from './registry.js';

const BIN = fileURLToPath(new URL('../bin/realize.js', import.meta.url));
const FULL_BYTES = 1024 * MiB;
const CHUNK = MiB;
const FIRST_BYTE_READS = 15;
const GOAL_FIRST_BYTE_MS = 20;

async function startServe(store: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [BIN, '--store', store, 'serve', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`realize serve did not start: ${err}`)), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/listening on/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`realize serve exited (${code}): ${err}`));
    });
  });
  return child;
}

/** CPU seconds (user + system) a process has used so far, from /proc (null where there is none). */
async function cpuOf(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`bench placement: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Deterministic block content (fast: one random buffer, a counter stamped into each block). */
function blockOf(base: Buffer, i: number): Buffer {
  const b = Buffer.from(base);
  b.writeUInt32BE(i, 0);
  b.writeUInt32BE(Math.imul(i, 2654435761) >>> 0, BLOCK_SIZE - 4);
  return b;
}

interface Measured {
  firstByteUnreal: number;
  firstByteReal: number;
  streamUnreal: number;
  streamReal: number;
  streamPlain: number;
  bytes: number;
  fetchedBlocks: number;
  /** CPU seconds per GiB streamed through the engine: this (the receiving) process and the serving child, Unreal; this process, Real. */
  cpu: { receiving: number; serving: number; real: number } | null;
  /** The same through a FUSE mount of B (null when FUSE is not usable here: `why`). */
  mount: { firstByteUnreal: number; firstByteReal: number; streamUnreal: number; streamReal: number } | null;
  why: string | null;
}

/**
 * What a child does on the mount (python3: os.pread, posix_fadvise and setxattr; the bench
 * process never touches a mounted path). Times are taken inside the child, around the reads.
 */
const MOUNT_SCRIPT = `
import os, sys, json, time, struct
mode, path = sys.argv[1], sys.argv[2]
B = ${BLOCK_SIZE}
if mode == 'probe':
    fd = os.open(path, os.O_RDONLY)
    n = len(os.pread(fd, 4096, 0))
    os.close(fd)
    print(json.dumps({'bytes': n}))
elif mode == 'first':
    out = []
    for off in json.loads(sys.argv[3]):
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        t = time.perf_counter()
        d = os.pread(fd, 4096, off)
        out.append((time.perf_counter() - t) * 1000)
        os.close(fd)
        if len(d) != 4096: sys.exit('short read at %d' % off)
    print(json.dumps(out))
elif mode == 'stream':
    size = int(sys.argv[3])
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    off = 0
    bad = 0
    t = time.perf_counter()
    while off < size:
        d = os.pread(fd, 1 << 20, off)
        if not d: break
        for k in range(0, len(d), B):
            if struct.unpack_from('>I', d, k)[0] != (off + k) // B: bad += 1
        off += len(d)
    s = time.perf_counter() - t
    os.close(fd)
    print(json.dumps({'seconds': s, 'bytes': off, 'bad': bad}))
elif mode == 'mark':
    os.setxattr(path, 'user.realize.placement', sys.argv[3].encode())
    print('{}')
`;

async function onMount(mode: string, path: string, ...args: string[]): Promise<unknown> {
  const r = await run('python3', ['-c', MOUNT_SCRIPT, mode, path, ...args], { timeoutMs: 600_000 });
  if (r.code !== 0) throw new Error(`bench placement: ${mode} on the mount failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim()) as unknown;
}

/** B's store mounted by `realize mount` in a child (it syncs with A): the same reads through FUSE, cold. */
async function measureMount(rootB: string, work: string, bytes: number, offsets: readonly number[], say: (s: string) => void): Promise<NonNullable<Measured['mount']>> {
  const mp = join(work, 'mnt');
  const served = await startRealize(rootB, mp);
  try {
    const file = join(mp, 'bench', 'big.bin');
    say('placement: through the mount, waiting for the connection to A');
    const end = Date.now() + 60_000;
    for (;;) {
      const r = await run('python3', ['-c', MOUNT_SCRIPT, 'probe', file], { timeoutMs: 30_000 });
      if (r.code === 0) break;
      if (Date.now() > end) throw new Error(`bench placement: the mount never read the file: ${r.stderr.trim()} ${served.stderr()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    say('placement: through the mount, time to first byte');
    const unrealTimes = (await onMount('first', file, JSON.stringify(offsets))) as number[];
    say('placement: through the mount, streaming the Unreal file');
    const unreal = (await onMount('stream', file, String(bytes))) as { seconds: number; bytes: number; bad: number };
    if (unreal.bad > 0 || unreal.bytes !== bytes) throw new Error(`bench placement: the mount read ${unreal.bytes} bytes, ${unreal.bad} blocks wrong`);
    say('placement: through the mount, the same file Real');
    await onMount('mark', file, 'real');
    const real = (await onMount('stream', file, String(bytes))) as { seconds: number; bytes: number; bad: number };
    if (real.bad > 0 || real.bytes !== bytes) throw new Error(`bench placement: the mount read ${real.bytes} bytes, ${real.bad} blocks wrong`);
    const realTimes = (await onMount('first', file, JSON.stringify(offsets))) as number[];
    return { firstByteUnreal: median(unrealTimes), firstByteReal: median(realTimes), streamUnreal: bytes / 1e6 / unreal.seconds, streamReal: bytes / 1e6 / real.seconds };
  } finally {
    // Unmount first and let the server exit on its own: stop() then has nothing left to wait for.
    await run('fusermount', ['-u', mp], { timeoutMs: 30_000 });
    for (let i = 0; i < 200 && (await served.peakRss()) !== null; i++) await new Promise((res) => setTimeout(res, 50));
    await served.stop();
  }
}

/** Checks that `chunk`, read at `off`, holds the blocks A wrote there (no allocation: memcmp against the pattern). */
function check(base: Buffer, off: number, chunk: Buffer): void {
  for (let at = 0; at < chunk.byteLength; at += BLOCK_SIZE) {
    const i = (off + at) / BLOCK_SIZE;
    const got = chunk.subarray(at, at + BLOCK_SIZE);
    const ok =
      got.byteLength === BLOCK_SIZE &&
      got.readUInt32BE(0) === i &&
      got.readUInt32BE(BLOCK_SIZE - 4) === (Math.imul(i, 2654435761) >>> 0) &&
      base.compare(got, 4, BLOCK_SIZE - 4, 4, BLOCK_SIZE - 4) === 0;
    if (!ok) throw new Error(`bench placement: block ${i} read back wrong`);
  }
}

/**
 * Reads the file front to back in 1 MiB reads, each into the same buffer (as a FUSE read fills
 * the kernel's; the engine reads into it: Engine.read's `into`); returns MB/s. Every block
 * read is checked before the next read.
 */
async function stream(read: (off: number, len: number, into: Buffer) => Promise<Buffer>, bytes: number, base: Buffer): Promise<number> {
  let checking = 0;
  const into = Buffer.allocUnsafeSlow(CHUNK);
  const w = new Stopwatch();
  for (let off = 0; off < bytes; off += CHUNK) {
    const chunk = await read(off, Math.min(CHUNK, bytes - off), into);
    const c = new Stopwatch();
    check(base, off, chunk);
    checking += c.seconds;
  }
  return bytes / 1e6 / (w.seconds - checking);
}

async function measure(work: string, bytes: number, say: (s: string) => void): Promise<Measured> {
  const rootA = join(work, 'peer-a');
  const rootB = join(work, 'peer-b');
  await initStore(rootA, env);
  await initStore(rootB, env);
  const blocks = bytes / BLOCK_SIZE;
  const base = randomBytes(BLOCK_SIZE);

  // Peer A: the file in its store, and the same bytes as a plain file on its disk.
  say(`placement: writing a ${(bytes / MiB).toFixed(0)} MiB file into peer A`);
  const a = await Engine.open(rootA, env);
  const b = await Engine.open(rootB, env);
  const plainPath = join(await freshDir(work, 'plain'), 'big.bin');
  let rootId: string;
  try {
    await a.run({ type: 'mkdir', path: '/bench', mode: 0o755, owner: { uid: 0, gid: 0 } });
    await a.run({ type: 'create', path: '/bench/big.bin', mode: 0o644, owner: { uid: 0, gid: 0 } });
    const id = a.stat('/bench/big.bin').id;
    const plain = await open(plainPath, 'w');
    const per = (8 * MiB) / BLOCK_SIZE;
    for (let i = 0; i < blocks; i += per) {
      const chunk = Buffer.concat(Array.from({ length: Math.min(per, blocks - i) }, (_, k) => blockOf(base, i + k)));
      await a.write(id, i * BLOCK_SIZE, chunk);
      await plain.write(chunk, 0, chunk.byteLength, i * BLOCK_SIZE);
    }
    await plain.close();
    await a.commit(id);
    await addPeer(a, 'b', b.store.publicKey, null);
    rootId = a.projections.tree.areaRoot('bench')!;
  } finally {
    await a.close();
  }

  // Peer B: follows the area and holds it Unreal before any of it arrives.
  const port = await freePort();
  let child: ChildProcess | null = null;
  let node: SyncNode | null = null;
  let bClosed = false;
  try {
    await addPeer(b, 'a', a.store.publicKey, `127.0.0.1:${port}`);
    await setFollow(rootB, 'bench', true);
    const mark: PlacementMark = { type: 'placement', id: rootId, peer: b.store.publicKey, placement: 'unreal', time: Date.now() };
    await b.appendEvents('bench', [mark]);
    say('placement: starting peer A (realize serve) and syncing the metadata to B');
    child = await startServe(rootA, port);
    node = await SyncNode.start(b, { dial: true });
    await until(() => b.lookup('/bench/big.bin')?.size === bytes && (b.placement?.fetcher.connected ?? false), 60_000, 'the file on B');
    const id = b.stat('/bench/big.bin').id;
    if (b.placement!.wants(id)) throw new Error('bench placement: the file is not Unreal on B');

    // 1. First byte: 4 KiB at random offsets of blocks that are not here.
    say('placement: time to first byte');
    const picks = new Set<number>();
    const n = Math.min(FIRST_BYTE_READS, Math.max(1, Math.floor(blocks / 4)));
    while (picks.size < n) picks.add(1 + Math.floor(Math.random() * (blocks - 1)));
    const unrealTimes: number[] = [];
    const offsets = [...picks].map((i) => i * BLOCK_SIZE + 4096 * Math.floor(Math.random() * 16));
    for (const off of offsets) {
      const w = new Stopwatch();
      const got = await b.read(id, off, 4096);
      unrealTimes.push(w.seconds * 1000);
      const blk = blockOf(base, Math.floor(off / BLOCK_SIZE));
      if (!got.equals(blk.subarray(off % BLOCK_SIZE, (off % BLOCK_SIZE) + 4096))) throw new Error('bench placement: a first-byte read returned the wrong bytes');
    }

    // 2. Streaming, Unreal: every block not read yet comes over loopback as the reads go.
    say('placement: streaming the Unreal file');
    const fetchedBefore = b.placement!.fetcher.stats.blocks;
    const gib = bytes / 2 ** 30;
    const [own0, child0] = [process.cpuUsage(), await cpuOf(child.pid)];
    const streamUnreal = await stream((off, len, into) => b.read(id, off, len, into), bytes, base);
    const [own1, child1] = [process.cpuUsage(own0), await cpuOf(child.pid)];
    const fetchedBlocks = b.placement!.fetcher.stats.blocks - fetchedBefore;

    // 3. The same file Real here (every block local now; marking it Real pins it).
    say('placement: the same file, Real');
    await markPath(b, '/bench/big.bin', 'real');
    await b.placement!.realizer.idle();
    const real0 = process.cpuUsage();
    const streamReal = await stream((off, len, into) => b.read(id, off, len, into), bytes, base);
    const real1 = process.cpuUsage(real0);
    const secs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1e6 / gib;
    const cpu = child0 === null || child1 === null ? null : { receiving: secs(own1), serving: (child1 - child0) / gib, real: secs(real1) };
    const realTimes: number[] = [];
    for (const off of offsets) {
      const w = new Stopwatch();
      await b.read(id, off, 4096);
      realTimes.push(w.seconds * 1000);
    }

    // 4. A plain read of the same bytes, as an ordinary file on A's disk.
    say('placement: a plain read on the other peer\'s disk');
    const fh = await open(plainPath, 'r');
    let streamPlain: number;
    try {
      streamPlain = await stream(async (off, len, into) => {
        const { bytesRead } = await fh.read(into, 0, len, off);
        return into.subarray(0, bytesRead);
      }, bytes, base);
    } finally {
      await fh.close();
    }

    // 5. Through a FUSE mount of B: make the file Unreal again and evict it, hand B's store
    //    to `realize mount` in a child, and read the file cold through the kernel.
    const why = await fuseUsable();
    let mount: Measured['mount'] = null;
    if (why === null) {
      await markPath(b, '/bench/big.bin', 'unreal');
      b.placement!.configure({ settings: { sizeBytes: 0 } });
      const evicted = await b.placement!.enforce();
      if (evicted.after !== 0 || b.placement!.wants(id)) throw new Error('bench placement: the file did not go back to Unreal and out of the cache');
      await node.close();
      node = null;
      await b.close();
      bClosed = true;
      mount = await measureMount(rootB, work, bytes, offsets, say);
    }
    return { firstByteUnreal: median(unrealTimes), firstByteReal: median(realTimes), streamUnreal, streamReal, streamPlain, bytes, fetchedBlocks, cpu, mount, why };
  } finally {
    await node?.close();
    if (!bClosed) await b.close();
    if (child !== null) await stopChild(child);
  }
}

export const placementBench: Bench = {
  name: 'placement',
  description: "Unreal reads over loopback: time to first byte, and streaming against the same file Real and a plain read on the other peer's disk",
  async run(options: BenchOptions): Promise<BenchResult> {
    const blocks = Math.max(32, Math.round((FULL_BYTES * options.scale) / BLOCK_SIZE));
    const bytes = blocks * BLOCK_SIZE;
    const runs: Measured[] = [];
    for (let r = 0; r < Math.min(options.repeat, 3); r++) {
      runs.push(await measure(await freshDir(options.dir, `run${r}`), bytes, options.progress));
      if (bytes >= 256 * MiB) break; // one run of a big file is enough (and takes a while)
    }
    const med = (f: (m: Measured) => number): number => median(runs.map(f));
    const m = {
      firstByteUnreal: med((x) => x.firstByteUnreal),
      firstByteReal: med((x) => x.firstByteReal),
      streamUnreal: med((x) => x.streamUnreal),
      streamReal: med((x) => x.streamReal),
      streamPlain: med((x) => x.streamPlain),
    };
    const mounted = runs.every((x) => x.mount !== null) ? runs.map((x) => x.mount!) : null;
    const mmed = (f: (x: NonNullable<Measured['mount']>) => number): number | null => (mounted === null ? null : median(mounted.map(f)));
    const mnt = {
      firstByteUnreal: mmed((x) => x.firstByteUnreal),
      firstByteReal: mmed((x) => x.firstByteReal),
      streamUnreal: mmed((x) => x.streamUnreal),
      streamReal: mmed((x) => x.streamReal),
    };
    const size = `${(bytes / MiB).toFixed(0)} MiB`;
    const rows: BenchRow[] = [
      { workload: 'time to first byte: 4 KiB of an Unreal file over loopback, engine read (median)', unit: 'ms', realize: m.firstByteUnreal, anchor: 'the same read, the file Real here', anchorValue: m.firstByteReal },
      { workload: `streaming read of an Unreal ${size} file over loopback, engine reads of 1 MiB into one buffer`, unit: 'MB/s', realize: m.streamUnreal, anchor: 'the same file Real here', anchorValue: m.streamReal },
      { workload: `streaming read of an Unreal ${size} file over loopback, engine reads of 1 MiB into one buffer`, unit: 'MB/s', realize: m.streamUnreal, anchor: "a plain read of the file on the other peer's disk (node:fs)", anchorValue: m.streamPlain },
      { workload: 'time to first byte: 4 KiB of an Unreal file over loopback, through the FUSE mount (median)', unit: 'ms', realize: mnt.firstByteUnreal, anchor: 'the same read, the file Real here', anchorValue: mnt.firstByteReal },
      { workload: `streaming read of an Unreal ${size} file over loopback, through the FUSE mount, 1 MiB reads`, unit: 'MB/s', realize: mnt.streamUnreal, anchor: 'the same file Real here, through the mount', anchorValue: mnt.streamReal },
      { workload: `streaming read of an Unreal ${size} file over loopback, through the FUSE mount, 1 MiB reads`, unit: 'MB/s', realize: mnt.streamUnreal, anchor: "a plain read of the file on the other peer's disk (node:fs)", anchorValue: m.streamPlain },
    ];
    const half = m.streamUnreal / m.streamReal;
    const mountHalf = mnt.streamUnreal === null || mnt.streamReal === null ? null : mnt.streamUnreal / mnt.streamReal;
    const pct = (x: number): string => `${(x * 100).toFixed(1)}%`; // one decimal: 49.8% is not met, and must not print as 50%
    const notes = [
      `goal: first byte under ${GOAL_FIRST_BYTE_MS} ms on loopback: ${m.firstByteUnreal.toFixed(2)} ms through the engine${mnt.firstByteUnreal === null ? '' : `, ${mnt.firstByteUnreal.toFixed(2)} ms through the mount`} (${Math.max(m.firstByteUnreal, mnt.firstByteUnreal ?? 0) < GOAL_FIRST_BYTE_MS ? 'met' : 'NOT met'}).`,
      `goal: Unreal streaming at least half the speed of Real: ${pct(half)} through the engine${mountHalf === null ? '' : `, ${pct(mountHalf)} through the mount`} (${half >= 0.5 ? 'met' : 'NOT met'} through the engine${mountHalf === null ? '' : `, ${mountHalf >= 0.5 ? 'met' : 'NOT met'} through the mount`}).`,
      ...(runs[0]!.why !== null ? [`no FUSE here (${runs[0]!.why}): the mount rows are empty`] : []),
      'through the mount: `realize mount` of B in a child process (it syncs with A), reads by python3 os.pread in another child, timed inside it; the file was made Unreal again and evicted first, and each run drops the file\'s pages from the kernel cache (posix_fadvise DONTNEED), so both the Unreal and the Real run go through FUSE.',
      `peer A runs \`realize serve\` in a child process; B reads through its engine (the path a FUSE read takes, without the kernel): a miss fetches the block over the encrypted channel (AES-256-GCM, which both peers offer and take; ChaCha20-Poly1305 with a peer from before that), checks its SHA-256, stores it in B's block store (the cache) and serves it; sequential reads fetch ahead in a window that doubles up to 256 blocks (32 MiB), topped up each quarter; large frames are read by the socket straight into pooled buffers and opened there by a worker thread, which hashes the blocks fetched ahead as it opens their message (their pack records' CRCs come with them from A), handed to the reads from memory, and written to the cache behind the reads.`,
      `the streaming run fetched ${runs[0]!.fetchedBlocks} blocks; warm page cache on both peers (the file was just written); ${runs.length} run(s), median.`,
      ...(runs.every((x) => x.cpu !== null)
        ? [
            `CPU per GiB streamed through the engine (the figure that bounds the stream on a busy 2-CPU machine; wall rates follow the share of the CPUs a run gets): Unreal ${med((x) => x.cpu!.receiving).toFixed(2)} s receiving + ${med((x) => x.cpu!.serving).toFixed(2)} s serving, Real ${med((x) => x.cpu!.real).toFixed(2)} s.`,
          ]
        : []),
    ];
    return { rows, notes };
  },
};
