/**
 * `realize bench sync`: two Realize peers on 127.0.0.1 (the listener runs `realize serve` in
 * a child process, so each side has its own CPU, as rsync's sender and receiver do), beside
 * `rsync -a` to a loopback rsync daemon and beside two hyperdrive instances replicating over a
 * pair of streams, in one run on the same disk:
 *
 *   1. initial sync of N small files plus one big file (10,000 and 1 GiB at scale 1);
 *   2. the same after changing one byte in the middle of the big file (bytes on the wire);
 *   3. M metadata events (100,000 at scale 1): Realize ships entries of 100 events (creates
 *      and mkdirs), rsync the same tree of empty files, hyperdrive a batch of empty puts.
 *   4. the channel cipher: seal+open of 1 MiB frames, node:crypto ChaCha20-Poly1305 against
 *      tweetnacl's secretbox (the choice the brief offered), and AES-256-GCM (what the wire uses
 *      between CPUs with AES instructions) against ChaCha20-Poly1305.
 *
 * Every figure is from one run (each workload moves gigabytes); throughput is file bytes per
 * second of wall time, from the first byte on the wire to the last entry applied and block
 * stored (Realize), the end of the rsync client (rsync), or the end of download() (hyperdrive).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomFillSync } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createReadStream } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, importTree, initStore } from '../../engine/index.js';
import { addPeer, cpuHasAes, decrypter, encrypter, Opener, Sealer, setFollow, SyncNode, type FrameCipher, type SessionStats } from '../../engine/sync/index.js';
import { BLOCK_SIZE, sha256, type FsEvent } from '../../log/index.js';
import { freshDir, MiB, scaled, Stopwatch } from './harness.js';
import type { Bench, BenchOptions, BenchResult, BenchRow } from './registry.js';
import { systemEnv as env } from '../cli-context.js';
import { freePort, stopChild } from './proc-helpers.js';
import { fmtN } from './report.js';

const BIN = fileURLToPath(new URL('../bin/realize.js', import.meta.url));
const FULL_SMALL = 10_000;
const SMALL_BYTES = 2048;
const FULL_BIG = 1024 * MiB;
const FULL_EVENTS = 100_000;
const EVENTS_PER_ENTRY = 100;

async function waitForPort(port: number, ms: number): Promise<void> {
  const { connect } = await import('node:net');
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------------------
// The data

interface Tree {
  readonly dir: string;
  readonly small: number;
  readonly bigBytes: number;
  readonly bytes: number;
}

async function makeTree(dir: string, small: number, bigBytes: number): Promise<Tree> {
  await mkdir(dir, { recursive: true });
  const perDir = 100;
  for (let d = 0; d * perDir < small; d++) {
    const sub = join(dir, `d${String(d).padStart(3, '0')}`);
    await mkdir(sub);
    const n = Math.min(perDir, small - d * perDir);
    const buf = randomBytes(SMALL_BYTES * n);
    await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(sub, `f${i}`), buf.subarray(i * SMALL_BYTES, (i + 1) * SMALL_BYTES))));
  }
  const fh = await open(join(dir, 'big.bin'), 'w');
  const chunk = Buffer.allocUnsafe(16 * MiB);
  for (let at = 0; at < bigBytes; at += chunk.byteLength) {
    randomFillSync(chunk);
    await fh.write(chunk, 0, Math.min(chunk.byteLength, bigBytes - at), at);
  }
  await fh.close();
  return { dir, small, bigBytes, bytes: small * SMALL_BYTES + bigBytes };
}

/** Flips one byte in the middle of big.bin; returns the offset. */
async function editOneByte(dir: string, bigBytes: number): Promise<number> {
  const at = Math.floor(bigBytes / 2) + 7;
  const fh = await open(join(dir, 'big.bin'), 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] ^= 0xff;
  await fh.write(b, 0, 1, at);
  await fh.close();
  return at;
}

async function makeEmptyTree(dir: string, files: number): Promise<void> {
  const perDir = 1000;
  for (let d = 0; d * perDir < files; d++) {
    const sub = join(dir, `m${String(d).padStart(3, '0')}`);
    await mkdir(sub, { recursive: true });
    const n = Math.min(perDir, files - d * perDir);
    await Promise.all(Array.from({ length: n }, (_, i) => writeFile(join(sub, `e${i}`), '')));
  }
}

// ---------------------------------------------------------------------------------------
// Realize

interface RealizeRun {
  initial: { seconds: number; stats: SessionStats };
  edit: { seconds: number; stats: SessionStats };
  events: { seconds: number; stats: SessionStats };
}

async function runRealize(work: string, tree: Tree, events: number, say: (s: string) => void): Promise<RealizeRun> {
  const rootA = join(work, 'realize-a');
  const rootB = join(work, 'realize-b');
  await initStore(rootA, env);
  await initStore(rootB, env);
  const a = await Engine.open(rootA, env);
  let child: ChildProcess | null = null;
  let node: SyncNode | null = null;
  try {
    say('sync: Realize, importing the tree into peer A');
    await importTree(a, tree.dir, '/bench');
    const b = await Engine.open(rootB, env);
    await addPeer(b, 'a', a.store.publicKey, null);
    const bKey = b.store.publicKey;
    await b.close();
    for (const area of ['bench', 'meta']) await setFollow(rootB, area, true);
    child = spawn(process.execPath, [BIN, '--store', rootB, 'serve', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let errText = '';
    child.stderr!.on('data', (d: Buffer) => (errText += d.toString()));
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`realize serve did not start: ${errText}`)), 30_000);
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (\S+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    await addPeer(a, 'b', bKey, address);
    node = await SyncNode.start(a, {});
    const sync = async (): Promise<{ seconds: number; stats: SessionStats }> => {
      const w = new Stopwatch();
      const stats = await node!.syncWith({ key: bKey, address });
      return { seconds: w.seconds, stats };
    };
    say('sync: Realize, initial sync');
    const initial = await sync();
    say('sync: Realize, one-byte edit');
    const big = a.stat('/bench/src/big.bin');
    const at = Math.floor(tree.bigBytes / 2) + 7;
    const old = await a.read(big.id, at, 1);
    await a.write(big.id, at, Buffer.from([old[0]! ^ 0xff]));
    await a.commit(big.id);
    const edit = await sync();
    say(`sync: Realize, appending ${fmtN(events)} metadata events`);
    await a.run({ type: 'mkdir', path: '/meta', mode: 0o755, owner: { uid: 0, gid: 0 } });
    const root = a.stat('/meta').id;
    let batch: FsEvent[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length > 0) await a.appendEvents('meta', batch);
      batch = [];
    };
    let made = 0;
    let dir = root;
    const now = Date.now();
    while (made < events) {
      if (made % 1000 === 0) {
        dir = a.newId();
        batch.push({ type: 'mkdir', id: dir, parent: root, name: `m${made / 1000}`, mode: 0o755, uid: 0, gid: 0, time: now });
      } else {
        batch.push({ type: 'create', id: a.newId(), parent: dir, name: `e${made % 1000}`, mode: 0o644, uid: 0, gid: 0, time: now });
      }
      made++;
      if (batch.length >= EVENTS_PER_ENTRY) await flush();
    }
    await flush();
    say(`sync: Realize, shipping ${fmtN(events)} metadata events`);
    const ev = await sync();
    return { initial, edit, events: ev };
  } finally {
    await node?.close();
    if (child !== null) await stopChild(child);
    await a.close();
  }
}

// ---------------------------------------------------------------------------------------
// rsync

interface RsyncRun {
  initial: { seconds: number; sent: number; received: number };
  edit: { seconds: number; sent: number; received: number };
  events: { seconds: number; sent: number; received: number };
}

function rsyncVersion(): string | null {
  const r = spawnSync('rsync', ['--version'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  return /rsync\s+version\s+(\S+)/.exec(r.stdout)?.[1] ?? '?';
}

async function runRsync(work: string, tree: Tree, eventsDir: string): Promise<RsyncRun> {
  const dir = await freshDir(work, 'rsyncd');
  const dst = join(dir, 'dst');
  await mkdir(dst);
  const port = await freePort();
  const conf = join(dir, 'rsyncd.conf');
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  await writeFile(conf, `address = 127.0.0.1\nport = ${port}\nuse chroot = no\npid file = ${join(dir, 'rsyncd.pid')}\nuid = ${uid}\ngid = ${gid}\n[dst]\npath = ${dst}\nread only = false\n`);
  const daemon = spawn('rsync', ['--daemon', '--no-detach', `--config=${conf}`, `--port=${port}`], { stdio: 'ignore' });
  try {
    await waitForPort(port, 10_000);
    const run = async (src: string, module: string): Promise<{ seconds: number; sent: number; received: number }> => {
      const w = new Stopwatch();
      const out = await new Promise<string>((resolve, reject) => {
        const c = spawn('rsync', ['-a', '--stats', `${src}/`, `rsync://127.0.0.1:${port}/dst/${module}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
        let text = '';
        c.stdout.on('data', (d: Buffer) => (text += d.toString()));
        c.stderr.on('data', (d: Buffer) => (text += d.toString()));
        c.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`rsync exited ${code}: ${text}`))));
      });
      const seconds = w.seconds;
      const num = (re: RegExp): number => Number((re.exec(out)?.[1] ?? '0').replace(/,/g, ''));
      return { seconds, sent: num(/Total bytes sent: ([\d,]+)/), received: num(/Total bytes received: ([\d,]+)/) };
    };
    const initial = await run(tree.dir, 'tree');
    await editOneByte(tree.dir, tree.bigBytes);
    const edit = await run(tree.dir, 'tree');
    const events = await run(eventsDir, 'meta');
    return { initial, edit, events };
  } finally {
    await stopChild(daemon);
  }
}

// ---------------------------------------------------------------------------------------
// hyperdrive

interface HyperdriveRun {
  initial: { seconds: number; wire: number };
  edit: { seconds: number; wire: number };
  events: { seconds: number; wire: number };
  label: string;
}

interface Drive {
  key: Uint8Array;
  ready(): Promise<void>;
  put(name: string, buf: Uint8Array): Promise<void>;
  createWriteStream(name: string): NodeJS.WritableStream;
  batch(): { put(name: string, buf: Uint8Array): Promise<void>; flush(): Promise<void> };
  update(opts?: { wait?: boolean }): Promise<boolean>;
  download(folder?: string): { done(): Promise<void> };
  close(): Promise<void>;
}
interface Store {
  replicate(initiator: boolean): NodeJS.ReadWriteStream & { on(e: 'data', f: (d: Buffer) => void): void; destroy(): void };
  close(): Promise<void>;
}

async function runHyperdrive(work: string, tree: Tree, events: number, say: (s: string) => void): Promise<HyperdriveRun | string> {
  let Hyperdrive: new (store: Store, key?: Uint8Array) => Drive;
  let Corestore: new (dir: string) => Store;
  try {
    Hyperdrive = ((await import('hyperdrive' as string)) as { default: typeof Hyperdrive }).default;
    Corestore = ((await import('corestore' as string)) as { default: typeof Corestore }).default;
  } catch (err) {
    return `hyperdrive/corestore are not installed (${(err as Error).message.split('\n')[0]}): npm install --save-dev hyperdrive@13.3.4 corestore@7.12.5`;
  }
  const { createRequire } = await import('node:module');
  const version = (createRequire(import.meta.url)('hyperdrive/package.json') as { version: string }).version;
  const s1 = new Corestore(await freshDir(work, 'hyperdrive-a'));
  const s2 = new Corestore(await freshDir(work, 'hyperdrive-b'));
  const d1 = new Hyperdrive(s1);
  await d1.ready();
  say('sync: hyperdrive, writing the tree into drive A');
  const { readdir, readFile } = await import('node:fs/promises');
  for (const sub of (await readdir(tree.dir)).filter((n) => n !== 'big.bin').sort()) {
    const names = await readdir(join(tree.dir, sub));
    await Promise.all(names.map(async (n) => d1.put(`/${sub}/${n}`, await readFile(join(tree.dir, sub, n)))));
  }
  const putBig = async (): Promise<void> => {
    await new Promise<void>((resolve, reject) => {
      const ws = d1.createWriteStream('/big.bin');
      ws.on('error', reject);
      ws.on('close', () => resolve());
      createReadStream(join(tree.dir, 'big.bin'), { highWaterMark: 4 * MiB }).pipe(ws);
    });
  };
  await putBig();
  const r1 = s1.replicate(true);
  const r2 = s2.replicate(false);
  let wire = 0;
  r1.on('data', (d: Buffer) => (wire += d.byteLength));
  r2.on('data', (d: Buffer) => (wire += d.byteLength));
  r1.pipe(r2).pipe(r1);
  const d2 = new Hyperdrive(s2, d1.key);
  try {
    await d2.ready();
    const download = async (): Promise<{ seconds: number; wire: number }> => {
      const before = wire;
      const w = new Stopwatch();
      await d2.update({ wait: true });
      await d2.download('/').done();
      return { seconds: w.seconds, wire: wire - before };
    };
    say('sync: hyperdrive, initial replication');
    const initial = await download();
    say('sync: hyperdrive, one-byte edit (the file is put again)');
    await putBig(); // the tree's big.bin already has its byte flipped (rsync ran first)
    const edit = await download();
    say(`sync: hyperdrive, ${fmtN(events)} metadata puts`);
    const b = d1.batch();
    for (let i = 0; i < events; i++) await b.put(`/meta/m${Math.floor(i / 1000)}/e${i % 1000}`, Buffer.alloc(0));
    await b.flush();
    const ev = await download();
    return { initial, edit, events: ev, label: `hyperdrive ${version}` };
  } finally {
    r1.destroy();
    r2.destroy();
    await d2.close().catch(() => undefined);
    await d1.close().catch(() => undefined);
    await s1.close().catch(() => undefined);
    await s2.close().catch(() => undefined);
  }
}

// ---------------------------------------------------------------------------------------
// The cipher

/** The frame cipher two peers on this machine take (sync-node.ts: AES-256-GCM where the CPU has AES instructions). */
function frameCipher(): FrameCipher {
  return cpuHasAes() ? 'aes-256-gcm' : 'chacha20-poly1305';
}

/** MiB/s of seal + open of 1 MiB frames with one of node:crypto's frame ciphers. */
function aeadSpeed(cipher: FrameCipher, totalBytes: number, data: Buffer, key: Buffer): number {
  const w = new Stopwatch();
  let done = 0;
  for (let n = 0; done < totalBytes; n++, done += data.byteLength) {
    const iv = Buffer.alloc(12);
    iv.writeUInt32BE(n, 8);
    const c = encrypter(cipher, key, iv);
    const ct = c.update(data);
    c.final();
    const d = decrypter(cipher, key, iv);
    d.setAuthTag(c.getAuthTag());
    d.update(ct);
    d.final();
  }
  return done / MiB / w.seconds;
}

export function cipherSpeeds(totalBytes: number): { chacha: number; aes: number; tweetnacl: number } {
  const size = MiB;
  const data = randomBytes(size);
  const key = randomBytes(32);
  const chacha = aeadSpeed('chacha20-poly1305', totalBytes, data, key);
  const aes = aeadSpeed('aes-256-gcm', totalBytes, data, key);
  let w: Stopwatch;
  let done: number;
  // tweetnacl is ~20x slower: a tenth of the bytes measures it as well.
  const naclTotal = Math.max(size, Math.floor(totalBytes / 10));
  w = new Stopwatch();
  done = 0;
  for (let n = 0; done < naclTotal; n++, done += size) {
    const nonce = new Uint8Array(24);
    nonce[23] = n & 0xff;
    const box = naclSecretbox(data, nonce, key);
    if (naclOpen(box, nonce, key) === null) throw new Error('tweetnacl could not open its own box');
  }
  return { chacha, aes, tweetnacl: done / MiB / w.seconds };
}

/**
 * The work every byte of an initial sync cannot skip, each stage timed alone on 1 MiB frames
 * with the code the wire uses: sealing (sender), opening (receiver) and the SHA-256 that
 * verifies a block on arrival. Spread ideally over every core, with no disk, no TCP and
 * nothing else, the bytes can move no faster than cores / (the three costs per byte added):
 * the most any initial sync could reach on this machine.
 */
export function syncCeiling(totalBytes: number, cores: number): { seal: number; open: number; hash: number; ceiling: number } {
  const frame = randomBytes(MiB);
  const key = randomBytes(32);
  const aad = Buffer.alloc(4);
  const frames = Math.max(1, Math.round(totalBytes / MiB));
  const sealer = new Sealer(key, frameCipher());
  const sealed: Buffer[] = [];
  let w = new Stopwatch();
  for (let i = 0; i < frames; i++) {
    const parts = sealer.seal(aad, [frame]);
    if (i < 64) sealed.push(Buffer.concat(parts));
  }
  const seal = (frames * MiB) / 1e6 / w.seconds;
  const opener = new Opener(key, frameCipher());
  const rounds = Math.ceil(frames / sealed.length);
  w = new Stopwatch();
  for (let r = 0; r < rounds; r++) {
    const o = r === 0 ? opener : new Opener(key, frameCipher());
    for (const s of sealed) o.open(aad, s);
  }
  const open = (rounds * sealed.length * MiB) / 1e6 / w.seconds;
  w = new Stopwatch();
  for (let i = 0; i < frames; i++) sha256(frame);
  const hash = (frames * MiB) / 1e6 / w.seconds;
  return { seal, open, hash, ceiling: cores / (1 / seal + 1 / open + 1 / hash) };
}

let naclSecretbox: (m: Uint8Array, n: Uint8Array, k: Uint8Array) => Uint8Array;
let naclOpen: (b: Uint8Array, n: Uint8Array, k: Uint8Array) => Uint8Array | null;

// ---------------------------------------------------------------------------------------

export const syncBench: Bench = {
  name: 'sync',
  description: 'two peers on loopback: initial sync, a one-byte edit, metadata events; against rsync (daemon) and hyperdrive',
  async run(options: BenchOptions): Promise<BenchResult> {
    const nacl = (await import('tweetnacl')).default;
    naclSecretbox = nacl.secretbox;
    naclOpen = nacl.secretbox.open;
    const say = options.progress;
    const small = scaled(FULL_SMALL, options.scale, 10);
    const bigBytes = Math.max(8, Math.round((FULL_BIG * options.scale) / BLOCK_SIZE)) * BLOCK_SIZE;
    const events = scaled(FULL_EVENTS, options.scale, 1000);
    const work = options.dir;
    say('sync: writing the source tree');
    const tree = await makeTree(join(work, 'src'), small, bigBytes);
    const eventsDir = join(work, 'events-src');
    await makeEmptyTree(eventsDir, events);

    const realize = await runRealize(work, tree, events, say);
    const rsyncV = rsyncVersion();
    let rsync: RsyncRun | null = null;
    let rsyncNote: string | null = null;
    if (rsyncV === null) rsyncNote = 'rsync is not installed (Debian package rsync): its rows are empty';
    else {
      say('sync: rsync to a loopback daemon');
      try {
        rsync = await runRsync(work, tree, eventsDir);
      } catch (err) {
        rsyncNote = `rsync failed: ${(err as Error).message.slice(0, 300)}`;
      }
    }
    const hd = await runHyperdrive(work, tree, events, say);
    const hyper = typeof hd === 'string' ? null : hd;
    say('sync: measuring the ciphers');
    const cipherBytes = Math.max(64 * MiB, Math.round(1024 * MiB * Math.min(1, options.scale * 4)));
    const cipher = cipherSpeeds(cipherBytes);
    const cores = availableParallelism();
    const floor = syncCeiling(cipherBytes, cores);

    const rsyncName = rsyncV === null ? 'rsync (missing)' : `rsync ${rsyncV} (daemon, -a)`;
    const hyperName = hyper?.label ?? 'hyperdrive (missing)';
    const mb = tree.bytes / 1e6;
    const desc = `${fmtN(small)} small files + one ${(bigBytes / MiB).toFixed(0)} MiB file`;
    const rows: BenchRow[] = [];
    const push = (workload: string, unit: string, value: number, anchor: string, anchorValue: number | null): void => {
      rows.push({ workload, unit, realize: value, anchor, anchorValue });
    };
    const wire = (s: SessionStats): number => s.wireBytesIn + s.wireBytesOut;
    push(`initial sync, ${desc}`, 'MB/s', mb / realize.initial.seconds, rsyncName, rsync ? mb / rsync.initial.seconds : null);
    push(`initial sync, ${desc}`, 'MB/s', mb / realize.initial.seconds, hyperName, hyper ? mb / hyper.initial.seconds : null);
    push(`initial sync, bytes on the wire`, 'MiB', wire(realize.initial.stats) / MiB, rsyncName, rsync ? (rsync.initial.sent + rsync.initial.received) / MiB : null);
    push(`initial sync, bytes on the wire`, 'MiB', wire(realize.initial.stats) / MiB, hyperName, hyper ? hyper.initial.wire / MiB : null);
    push('one-byte edit of the big file: bytes on the wire', 'KiB', wire(realize.edit.stats) / 1024, rsyncName, rsync ? (rsync.edit.sent + rsync.edit.received) / 1024 : null);
    push('one-byte edit of the big file: bytes on the wire', 'KiB', wire(realize.edit.stats) / 1024, hyperName, hyper ? hyper.edit.wire / 1024 : null);
    push('one-byte edit of the big file: time', 's', realize.edit.seconds, rsyncName, rsync ? rsync.edit.seconds : null);
    push('one-byte edit of the big file: time', 's', realize.edit.seconds, hyperName, hyper ? hyper.edit.seconds : null);
    push(`${fmtN(events)} metadata events`, 'events/s', events / realize.events.seconds, `${rsyncName}, as empty files`, rsync ? events / rsync.events.seconds : null);
    push(`${fmtN(events)} metadata events`, 'events/s', events / realize.events.seconds, `${hyperName}, as empty puts`, hyper ? events / hyper.events.seconds : null);
    push('channel cipher, seal+open of 1 MiB frames: ChaCha20-Poly1305 (node:crypto)', 'MiB/s', cipher.chacha, 'tweetnacl secretbox (XSalsa20-Poly1305)', cipher.tweetnacl);
    push('channel cipher, seal+open of 1 MiB frames: AES-256-GCM (node:crypto)', 'MiB/s', cipher.aes, 'ChaCha20-Poly1305 (node:crypto)', cipher.chacha);
    push(`ceiling of any initial sync here: seal + open + SHA-256 of every byte, ideally spread over ${cores} cores`, 'MB/s', floor.ceiling, `${rsyncName}, initial sync`, rsync ? mb / rsync.initial.seconds : null);
    const notes = [
      `Realize: ${frameCipher() === 'aes-256-gcm' ? 'AES-256-GCM' : 'ChaCha20-Poly1305'} (node:crypto) frames (AES-256-GCM between peers whose CPUs have AES instructions: ${cpuHasAes() ? 'this one has' : 'this one has not'}; the ceiling row uses the same); the initial sync shipped ${fmtN(realize.initial.stats.entriesOut)} entries and ${fmtN(realize.initial.stats.blocksOut)} blocks in ${realize.initial.seconds.toFixed(2)} s; the one-byte edit ${realize.edit.stats.blocksOut} block(s) and ${realize.edit.stats.entriesOut} entr${realize.edit.stats.entriesOut === 1 ? 'y' : 'ies'} (${(wire(realize.edit.stats) / 1024).toFixed(1)} KiB on the wire, goal < 1 MiB); ${fmtN(events)} events in ${realize.events.seconds.toFixed(2)} s (goal < 10 s at scale 1).`,
      'Realize acknowledges only what is durable on the receiver (entries fsynced; blocks synced before the session ends); rsync writes files without fsync; hyperdrive never fsyncs.',
      `hyperdrive's edit row puts the whole file again (it has no in-place edit; its dedup option was left off, as in its docs); rsync's uses its delta algorithm (both sides read the whole file).`,
      'bytes on the wire: Realize counts every byte of its TCP stream (handshake, frame headers, tags), rsync its --stats totals (sent + received), hyperdrive both replication streams.',
      `the ceiling row: seal ${floor.seal.toFixed(0)}, open ${floor.open.toFixed(0)}, SHA-256 ${floor.hash.toFixed(0)} MB/s, each on one core; ${cores} cores / the three costs per byte added = ${floor.ceiling.toFixed(0)} MB/s, before any disk, TCP or apply work. An initial sync that seals and verifies every byte cannot beat rsync (plaintext, unverified) on this machine where this row's ratio is below 1.`,
      'each figure is from one run: the workloads move gigabytes.',
      ...(rsyncNote !== null ? [rsyncNote] : []),
      ...(typeof hd === 'string' ? [hd] : []),
    ];
    return { rows, notes };
  },
};
