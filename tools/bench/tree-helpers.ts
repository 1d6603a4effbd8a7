/**
 * Deterministic test trees for the model and mount benches: a tree of small files (1-8 KiB,
 * a realistic mix of text, structured text, binary and a few shared copies, mostly distinct
 * content) and large files of incompressible, seeded content. The same seed gives the same
 * bytes on every machine; nothing here is timed.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { mulberry32 } from './prng.js';

export const KiB = 1024;

/**
 * A seeded stream of pseudo-random bytes: AES-256-CTR over zeros with a key derived from the
 * seed (fast: ~1-2 GB/s, and incompressible, so neither dedup nor deflate can shortcut it).
 */
export class SeededBytes {
  readonly #cipher;
  static readonly #ZEROS = Buffer.alloc(1024 * 1024);

  constructor(seed: string) {
    const key = createHash('sha256').update(`realize-bench:${seed}`).digest();
    this.#cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }

  /** The next `n` bytes of the stream. */
  next(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const k = Math.min(n - at, SeededBytes.#ZEROS.byteLength);
      const chunk = this.#cipher.update(SeededBytes.#ZEROS.subarray(0, k));
      chunk.copy(out, at);
      at += chunk.byteLength;
    }
    return out;
  }
}

/** A small seeded integer generator (mulberry32), for choices: sizes, kinds, names. */
export class SeededInts {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = mulberry32(seed);
  }
  /** Uniform in [0, 1). */
  float(): number {
    return this.#next();
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
}

const WORDS = (
  'the of and to in is that for it with as was on be by this are or from at an which not have ' +
  'import export const function return await async class interface type string number boolean ' +
  'null undefined true false if else for while switch case break continue new this super extends ' +
  'readonly private public static value result error buffer offset length size block entry event ' +
  'feed store mount index projection tree node parent child name mode owner group time write read ' +
  'commit flush sync close open path file directory household peer area conflict history position'
).split(' ');

const TEXT_EXT = ['ts', 'js', 'md', 'txt', 'py', 'rs', 'go', 'c', 'h', 'css', 'html'];
const DATA_EXT = ['json', 'yaml', 'toml', 'csv', 'xml'];
const BIN_EXT = ['png', 'jpg', 'gz', 'bin', 'pdf', 'woff2', 'zip'];

export type SmallKind = 'text' | 'data' | 'binary' | 'copy';

/** How the small files are mixed: shares of each kind (the rest are copies of shared files). */
export const SMALL_MIX = { text: 0.45, data: 0.2, binary: 0.27, copy: 0.08 } as const;
/** Distinct contents the "copy" files are drawn from (like LICENSE, .gitignore, index.ts). */
const SHARED_CONTENTS = 16;

export interface SmallFile {
  /** Relative path, e.g. `d03/s07/commit-00345.ts`. */
  readonly path: string;
  readonly kind: SmallKind;
  readonly data: Buffer;
}

function textOf(ints: SeededInts, bytes: Buffer, size: number, structured: boolean): Buffer {
  const out = Buffer.allocUnsafe(size + 64);
  let at = 0;
  let col = 0;
  let k = 0;
  while (at < size) {
    const r = bytes[k++ % bytes.length]! ^ ints.int(256);
    let word: string;
    if (structured) {
      const key = WORDS[r % WORDS.length]!;
      const v = ints.int(3) === 0 ? `"${WORDS[ints.int(WORDS.length)]}"` : String(ints.int(1_000_000));
      word = `  "${key}_${k}": ${v},\n`;
      col = 0;
    } else {
      word = WORDS[(r + ints.int(WORDS.length)) % WORDS.length]!;
      word += col > 60 ? '\n' : r % 11 === 0 ? '; ' : ' ';
      col = word.endsWith('\n') ? 0 : col + word.length;
    }
    at += out.write(word, at, 'latin1');
  }
  return out.subarray(0, size);
}

/**
 * The small files of a tree: `count` files of 1-8 KiB (skewed towards the small end) in
 * directories of ~100 (two levels: dNN/sNN/), mixed as SMALL_MIX says. Deterministic in
 * (count, seed). Content is built in memory: ~4.5 KiB a file.
 */
export function smallFiles(count: number, seed: string): SmallFile[] {
  let h = 0;
  for (const c of seed) h = (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0;
  const ints = new SeededInts(h);
  const bytes = new SeededBytes(`small:${seed}`);
  const shared = Array.from({ length: SHARED_CONTENTS }, (_, i) => textOf(ints, bytes.next(256), 1024 + 400 * i, i % 2 === 0));
  const out: SmallFile[] = [];
  const perDir = 100;
  for (let i = 0; i < count; i++) {
    const dir = Math.floor(i / perDir);
    const size = 1024 + Math.floor(7168 * ints.float() ** 1.5);
    const u = ints.float();
    let kind: SmallKind;
    let data: Buffer;
    let ext: string;
    if (u < SMALL_MIX.text) {
      kind = 'text';
      ext = TEXT_EXT[ints.int(TEXT_EXT.length)]!;
      data = textOf(ints, bytes.next(512), size, false);
    } else if (u < SMALL_MIX.text + SMALL_MIX.data) {
      kind = 'data';
      ext = DATA_EXT[ints.int(DATA_EXT.length)]!;
      data = textOf(ints, bytes.next(512), size, true);
    } else if (u < SMALL_MIX.text + SMALL_MIX.data + SMALL_MIX.binary) {
      kind = 'binary';
      ext = BIN_EXT[ints.int(BIN_EXT.length)]!;
      data = bytes.next(size);
    } else {
      kind = 'copy';
      const s = ints.int(SHARED_CONTENTS);
      ext = s % 2 === 0 ? 'json' : 'txt';
      data = shared[s]!;
    }
    const name = `${WORDS[ints.int(WORDS.length)]}-${String(i).padStart(6, '0')}.${ext}`;
    const path = `d${String(Math.floor(dir / 10)).padStart(3, '0')}/s${String(dir % 10).padStart(2, '0')}/${name}`;
    out.push({ path, kind, data });
  }
  return out;
}

/** Writes `files` under `root` (CONCURRENCY writes in flight), with fixed times. */
export async function writeSmallFiles(root: string, files: readonly SmallFile[], concurrency = 32): Promise<number> {
  const dirs = new Set(files.map((f) => dirname(join(root, f.path))));
  for (const d of dirs) await mkdir(d, { recursive: true });
  let next = 0;
  let bytes = 0;
  const when = new Date('2024-06-01T12:00:00Z');
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const f = files[next++]!;
      const p = join(root, f.path);
      await writeFile(p, f.data);
      await utimes(p, when, when);
      bytes += f.data.byteLength;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return bytes;
}

/** Writes `size` bytes of seeded, incompressible content to `path` (8 MiB at a time). */
export async function writeBigFile(path: string, size: number, seed: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const bytes = new SeededBytes(`big:${seed}`);
  const fh = await open(path, 'w');
  try {
    const CHUNK = 8 * 1024 * 1024;
    for (let at = 0; at < size; at += CHUNK) {
      const buf = bytes.next(Math.min(CHUNK, size - at));
      let done = 0;
      while (done < buf.byteLength) done += (await fh.write(buf, done, buf.byteLength - done, at + done)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
}

export interface GeneratedTree {
  readonly root: string;
  readonly smallDir: string;
  readonly bigPath: string;
  readonly smallCount: number;
  readonly smallBytes: number;
  readonly bigBytes: number;
  readonly dirs: number;
  readonly mix: Record<SmallKind, number>;
}

/**
 * The model bench's tree: `root/small/...` (the small files) and `root/big/big.bin` (one
 * large file). `root` must not exist yet.
 */
export async function generateTree(root: string, opts: { smallCount: number; bigBytes: number; seed: string }): Promise<GeneratedTree> {
  const files = smallFiles(opts.smallCount, opts.seed);
  const smallDir = join(root, 'small');
  const smallBytes = await writeSmallFiles(smallDir, files);
  const bigPath = join(root, 'big', 'big.bin');
  await writeBigFile(bigPath, opts.bigBytes, opts.seed);
  const mix: Record<SmallKind, number> = { text: 0, data: 0, binary: 0, copy: 0 };
  for (const f of files) mix[f.kind]++;
  const dirs = new Set(files.map((f) => dirname(f.path))).size;
  return { root, smallDir, bigPath, smallCount: files.length, smallBytes, bigBytes: opts.bigBytes, dirs, mix };
}
