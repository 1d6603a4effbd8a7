/**
 * A random-operations exerciser in the spirit of fsx: a seeded PRNG picks writes, truncates
 * (up and down), reads at random offsets and sizes, fsyncs and close/reopens on a few files
 * through a real mount, and every read is checked byte for byte against an in-memory model.
 * A mismatch throws an FsxError naming the seed, the operation and the recent history, so the
 * run can be repeated exactly (FSX_SEED=... in the tests).
 *
 * Runs in the test process with fs/promises only: the mount is served by another process.
 */
import { constants } from 'node:fs';
import { open, readFile, stat, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { mulberry32 as prng } from '../../../tools/bench/prng.js';

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export { mulberry32 as prng } from '../../../tools/bench/prng.js';

export interface FsxOptions {
  readonly dir: string;
  readonly seed: number;
  readonly ops: number;
  /** How many files to work on. */
  readonly files?: number;
  /** Largest file size the run aims at. */
  readonly maxSize?: number;
  /** Largest single read or write. */
  readonly maxIo?: number;
  /** Called every `progressEvery` operations. */
  readonly onProgress?: (done: number) => void;
  readonly progressEvery?: number;
}

export interface FsxStats {
  readonly ops: number;
  readonly counts: Record<string, number>;
  readonly bytesWritten: number;
  readonly bytesRead: number;
  /** Each file's path and the content the model says it has. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly content: Buffer }>;
}

export class FsxError extends Error {
  readonly seed: number;
  readonly op: number;
  constructor(seed: number, op: number, message: string, history: readonly string[]) {
    super(`fsx seed=${seed} failed at op #${op}: ${message}\nlast operations:\n  ${history.join('\n  ')}\nrepeat with FSX_SEED=${seed}`);
    this.name = 'FsxError';
    this.seed = seed;
    this.op = op;
  }
}

interface FileState {
  readonly path: string;
  model: Buffer;
  size: number;
  fh: FileHandle;
}

function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

export async function runFsx(opts: FsxOptions): Promise<FsxStats> {
  const rnd = prng(opts.seed);
  const nFiles = opts.files ?? 3;
  const maxSize = opts.maxSize ?? 1024 * 1024;
  const maxIo = opts.maxIo ?? 192 * 1024;
  const int = (n: number): number => Math.floor(rnd() * n);
  /** Sizes skewed small, with a tail up to `max` (most real I/O is small). */
  const ioLen = (max: number): number => {
    const r = rnd();
    if (r < 0.5) return 1 + int(512);
    if (r < 0.85) return 1 + int(16 * 1024);
    return 1 + int(max);
  };
  /** Offsets that like block boundaries (128 KiB) and the end of the file. */
  const offset = (f: FileState): number => {
    const r = rnd();
    if (r < 0.15) return Math.max(0, Math.min(maxSize - 1, 128 * 1024 * (1 + int(Math.floor(maxSize / (128 * 1024)))) + int(64) - 32));
    if (r < 0.3) return Math.max(0, f.size - int(256));
    return int(Math.max(1, Math.min(maxSize, f.size + 64 * 1024)));
  };
  const fill = (n: number): Buffer => {
    const b = Buffer.allocUnsafe(n);
    let x = (rnd() * 0xffffffff) >>> 0;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
    return b;
  };

  const history: string[] = [];
  const note = (s: string): void => {
    history.push(s);
    if (history.length > 25) history.shift();
  };
  const counts: Record<string, number> = {};
  let bytesWritten = 0;
  let bytesRead = 0;
  let opNo = 0;
  const fail = (msg: string): never => {
    throw new FsxError(opts.seed, opNo, msg, history);
  };
  /** What the server itself says (O_DIRECT bypasses the kernel's page cache), for a failure message. */
  const direct = async (f: FileState, off: number): Promise<string> => {
    try {
      const h = await open(f.path, constants.O_RDONLY | constants.O_DIRECT);
      try {
        const b = Buffer.alloc(16);
        const { bytesRead: n } = await h.read(b, 0, 16, off);
        const want = f.model.subarray(off, Math.min(off + 16, f.size));
        return `; read with O_DIRECT at ${off}: [${[...b.subarray(0, n)].join(',')}] (the model: [${[...want].join(',')}])`;
      } finally {
        await h.close();
      }
    } catch (err) {
      return `; O_DIRECT read failed: ${(err as Error).message}`;
    }
  };

  const files: FileState[] = [];
  for (let i = 0; i < nFiles; i++) {
    const path = join(opts.dir, `fsx-${opts.seed}-${i}`);
    files.push({ path, model: Buffer.alloc(0), size: 0, fh: await open(path, 'w+') });
  }

  const setSize = (f: FileState, size: number): void => {
    if (size > f.model.length) {
      const grown = Buffer.alloc(Math.max(size, Math.min(maxSize * 2, f.model.length * 2)));
      f.model.copy(grown, 0, 0, f.size);
      f.model = grown;
    } else if (size < f.size) {
      f.model.fill(0, size, f.size);
    }
    f.size = size;
  };

  const check = async (f: FileState, off: number, len: number, how: string, fh: FileHandle = f.fh): Promise<void> => {
    const buf = Buffer.alloc(len);
    let got = 0;
    // A short read is only allowed at the end of the file: keep reading until EOF.
    for (;;) {
      const { bytesRead: n } = await fh.read(buf, got, len - got, off + got);
      if (n === 0) break;
      got += n;
      if (got === len) break;
    }
    bytesRead += got;
    const want = Math.max(0, Math.min(len, f.size - off));
    if (got !== want) fail(`${how} ${f.path} [${off}, +${len}): read ${got} bytes, expected ${want} (size ${f.size})`);
    const d = firstDiff(buf.subarray(0, got), f.model.subarray(off, off + want));
    if (d >= 0) {
      fail(`${how} ${f.path} [${off}, +${len}): byte ${off + d} is ${buf[d]}, expected ${f.model[off + d]} (size ${f.size})${await direct(f, off + d)}`);
    }
  };

  try {
    for (opNo = 1; opNo <= opts.ops; opNo++) {
      const f = files[int(files.length)]!;
      const r = rnd();
      let kind: string;
      if (r < 0.4) {
        kind = 'write';
        const off = offset(f);
        const len = Math.min(ioLen(maxIo), maxSize + 64 * 1024 - off);
        const data = fill(Math.max(1, len));
        note(`write ${f.path.slice(-8)} [${off}, +${data.length})`);
        const { bytesWritten: n } = await f.fh.write(data, 0, data.length, off);
        if (n !== data.length) fail(`short write: ${n} of ${data.length}`);
        if (off + n > f.size) setSize(f, off + n);
        data.copy(f.model, off);
        bytesWritten += n;
      } else if (r < 0.65) {
        kind = 'read';
        const off = rnd() < 0.1 ? f.size + int(1000) : int(Math.max(1, f.size));
        const len = ioLen(maxIo);
        note(`read ${f.path.slice(-8)} [${off}, +${len})`);
        await check(f, off, len, 'read');
      } else if (r < 0.75) {
        kind = rnd() < 0.5 ? 'ftruncate' : 'truncate';
        const size = rnd() < 0.5 ? int(Math.max(1, f.size)) : int(maxSize);
        note(`${kind} ${f.path.slice(-8)} to ${size} (from ${f.size})`);
        if (kind === 'ftruncate') await f.fh.truncate(size);
        else await truncate(f.path, size);
        setSize(f, size);
      } else if (r < 0.8) {
        kind = 'fstat';
        note(`fstat ${f.path.slice(-8)}`);
        const s = await f.fh.stat();
        if (s.size !== f.size) fail(`fstat size ${s.size}, expected ${f.size}`);
      } else if (r < 0.85) {
        kind = 'stat';
        note(`stat ${f.path.slice(-8)}`);
        const s = await stat(f.path);
        if (s.size !== f.size) fail(`stat size ${s.size}, expected ${f.size}`);
      } else if (r < 0.89) {
        kind = rnd() < 0.5 ? 'fsync' : 'fdatasync';
        note(`${kind} ${f.path.slice(-8)}`);
        if (kind === 'fsync') await f.fh.sync();
        else await f.fh.datasync();
      } else if (r < 0.93) {
        kind = 'reopen';
        note(`close+reopen ${f.path.slice(-8)}`);
        await f.fh.close();
        f.fh = await open(f.path, 'r+');
      } else if (r < 0.97) {
        kind = 'other-handle';
        const off = int(Math.max(1, f.size));
        const len = ioLen(maxIo);
        note(`read via a second handle ${f.path.slice(-8)} [${off}, +${len})`);
        const other = await open(f.path, 'r');
        try {
          await check(f, off, len, 'read (second handle)', other);
        } finally {
          await other.close();
        }
      } else if (r < 0.985) {
        kind = 'append';
        const data = fill(ioLen(4096));
        note(`append ${f.path.slice(-8)} +${data.length} at ${f.size}`);
        const ah = await open(f.path, 'a');
        try {
          await ah.write(data);
        } finally {
          await ah.close();
        }
        const at = f.size;
        setSize(f, at + data.length);
        data.copy(f.model, at);
        bytesWritten += data.length;
      } else {
        kind = 'whole';
        note(`close, then read ${f.path.slice(-8)} whole`);
        await f.fh.close();
        const all = await readFile(f.path);
        f.fh = await open(f.path, 'r+');
        bytesRead += all.length;
        if (all.length !== f.size) fail(`whole file is ${all.length} bytes, expected ${f.size}`);
        const d = firstDiff(all, f.model.subarray(0, f.size));
        if (d >= 0) fail(`whole file: byte ${d} is ${all[d]}, expected ${f.model[d]}${await direct(f, d)}`);
      }
      counts[kind] = (counts[kind] ?? 0) + 1;
      if (opts.onProgress && opNo % (opts.progressEvery ?? 1000) === 0) opts.onProgress(opNo);
    }
    // Last: every file whole, through fresh handles.
    for (const f of files) {
      await f.fh.close();
      const all = await readFile(f.path);
      if (all.length !== f.size || firstDiff(all, f.model.subarray(0, f.size)) >= 0) fail(`final check of ${f.path}: content differs from the model`);
      f.fh = await open(f.path, 'r');
    }
  } catch (err) {
    if (err instanceof FsxError) throw err;
    throw new FsxError(opts.seed, opNo, `${(err as Error).message} (${(err as NodeJS.ErrnoException).code ?? 'no code'})`, history);
  } finally {
    for (const f of files) await f.fh.close().catch(() => undefined);
  }
  return { ops: opts.ops, counts, bytesWritten, bytesRead, files: files.map((f) => ({ path: f.path, content: Buffer.from(f.model.subarray(0, f.size)) })) };
}

/** The seed to use: FSX_SEED when set (to repeat a failure), else a fresh one. */
export function fsxSeed(): number {
  const env = process.env['FSX_SEED'];
  return env !== undefined && env !== '' ? Number(env) >>> 0 : (Math.random() * 0x100000000) >>> 0;
}
