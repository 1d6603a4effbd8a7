/**
 * famfs devices: the superblock (spec/famfs-format.md), `mkfs`, and this peer's registry of
 * where each device uuid lives on this machine. The log names devices by uuid only: the
 * path of a device is local (another host sees the same CXL/DAX memory under another name).
 *
 * A device is a DAX device where one exists, or a regular file standing in for one. Data is
 * read and written with positioned I/O, so the device must accept pread/pwrite: a regular
 * file or a block device (pmem in fsdax mode). A devdax character device (/dev/daxX.Y) only
 * supports mmap, which Node cannot do without a native addon: it is refused with that reason.
 */
import { open, readFile, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';
import { FAMFS_ALLOC_UNIT, fromHex, toHex } from '../../log/index.js';
import { EngineError } from '../engine-error.js';

export const SUPERBLOCK_BYTES = 4096;
export const SUPERBLOCK_MAGIC = Buffer.from('realize-famfs\0\0\0', 'latin1'); // 16 bytes
export const SUPERBLOCK_VERSION = 1;

export interface Superblock {
  /** 32 lowercase hex digits. */
  readonly uuid: string;
  /** The device's size in bytes when it was made. */
  readonly size: number;
  readonly unit: number;
  /** Milliseconds since the epoch. */
  readonly created: number;
}

/** "123e4567-e89b-12d3-a456-426614174000" from 32 hex digits (the shadow's device_uuid form). */
export function uuidString(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export function uuidHex(s: string): string {
  const h = s.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(h)) throw new EngineError('BAD_ARGUMENT', `not a uuid: ${JSON.stringify(s)}`);
  return h;
}

export function encodeSuperblock(sb: Superblock): Buffer {
  const b = Buffer.alloc(SUPERBLOCK_BYTES);
  SUPERBLOCK_MAGIC.copy(b, 0);
  b.writeUInt32LE(SUPERBLOCK_VERSION, 16);
  b.writeUInt32LE(0, 20); // flags
  Buffer.from(fromHex(sb.uuid)).copy(b, 24);
  b.writeBigUInt64LE(BigInt(sb.size), 40);
  b.writeBigUInt64LE(BigInt(sb.unit), 48);
  b.writeBigUInt64LE(BigInt(sb.created), 56);
  b.writeUInt32LE(crc32(b.subarray(0, SUPERBLOCK_BYTES - 4)), SUPERBLOCK_BYTES - 4);
  return b;
}

/** The superblock in `b`, or a reason it is not one. */
export function decodeSuperblock(b: Uint8Array): Superblock | string {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.byteLength < SUPERBLOCK_BYTES) return 'too short for a superblock';
  if (!buf.subarray(0, 16).equals(SUPERBLOCK_MAGIC)) return 'no realize famfs superblock (bad magic)';
  if (buf.readUInt32LE(SUPERBLOCK_BYTES - 4) !== crc32(buf.subarray(0, SUPERBLOCK_BYTES - 4))) return 'superblock checksum mismatch';
  const version = buf.readUInt32LE(16);
  if (version !== SUPERBLOCK_VERSION) return `superblock version ${version}; this realize reads version ${SUPERBLOCK_VERSION}`;
  const unit = Number(buf.readBigUInt64LE(48));
  if (unit !== FAMFS_ALLOC_UNIT) return `allocation unit ${unit}; this realize uses ${FAMFS_ALLOC_UNIT}`;
  return {
    uuid: toHex(buf.subarray(24, 40)),
    size: Number(buf.readBigUInt64LE(40)),
    unit,
    created: Number(buf.readBigUInt64LE(56)),
  };
}

/** The size of a device: a regular file's length, or a block device's (via its end). */
async function deviceSize(path: string): Promise<number> {
  const st = await stat(path);
  if (st.isFile()) return st.size;
  if (st.isCharacterDevice()) {
    throw new EngineError('BAD_ARGUMENT', `${path} is a character device (devdax?): it only supports mmap, which this build cannot do; use a pmem block device (fsdax) or a regular file`);
  }
  if (st.isBlockDevice()) {
    const fh = await open(path, 'r');
    try {
      // A block device reports size 0 in stat; its length is where reads end. Find it by bisection.
      let lo = 0;
      let hi = 1;
      const probe = Buffer.alloc(1);
      const readable = async (at: number): Promise<boolean> => (await fh.read(probe, 0, 1, at)).bytesRead === 1;
      while (await readable(hi * FAMFS_ALLOC_UNIT - 1)) hi *= 2;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (await readable(mid * FAMFS_ALLOC_UNIT - 1)) lo = mid;
        else hi = mid;
      }
      return lo * FAMFS_ALLOC_UNIT;
    } finally {
      await fh.close();
    }
  }
  throw new EngineError('BAD_ARGUMENT', `${path} is neither a regular file nor a block device`);
}

export interface MkfsOptions {
  /** Create (or grow) a regular file of this many bytes first. */
  readonly size?: number;
  /** Overwrite an existing superblock. */
  readonly force?: boolean;
  readonly randomBytes: (n: number) => Uint8Array;
  readonly now: () => number;
}

/** Writes a fresh superblock with a new device uuid. Refuses a device that has one unless `force`. */
export async function mkfs(path: string, opts: MkfsOptions): Promise<Superblock> {
  if (opts.size !== undefined) {
    if (!Number.isSafeInteger(opts.size) || opts.size < 2 * FAMFS_ALLOC_UNIT) throw new EngineError('BAD_ARGUMENT', `a famfs device needs at least ${2 * FAMFS_ALLOC_UNIT} bytes`);
    const fh = await open(path, 'a');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new EngineError('BAD_ARGUMENT', `--size is for a regular file standing in for a device; ${path} is not one`);
      if (st.size < opts.size) await fh.truncate(opts.size);
    } finally {
      await fh.close();
    }
  }
  const size = await deviceSize(path).catch((err: NodeJS.ErrnoException) => {
    if (err instanceof EngineError) throw err;
    throw new EngineError(err.code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot use ${path} as a famfs device: ${err.code ?? err.message}${err.code === 'ENOENT' ? ' (give --size to create a regular file standing in for one)' : ''}`);
  });
  if (size < 2 * FAMFS_ALLOC_UNIT) throw new EngineError('BAD_ARGUMENT', `${path} holds ${size} bytes; a famfs device needs at least ${2 * FAMFS_ALLOC_UNIT}`);
  const fh = await open(path, 'r+');
  try {
    const head = Buffer.alloc(SUPERBLOCK_BYTES);
    await fh.read(head, 0, SUPERBLOCK_BYTES, 0);
    const old = decodeSuperblock(head);
    if (typeof old !== 'string' && opts.force !== true) {
      throw new EngineError('EXISTS', `${path} already holds a famfs superblock (device ${uuidString(old.uuid)}); give --force to make a new one`);
    }
    const sb: Superblock = { uuid: toHex(opts.randomBytes(16)), size, unit: FAMFS_ALLOC_UNIT, created: opts.now() };
    await fh.write(encodeSuperblock(sb), 0, SUPERBLOCK_BYTES, 0);
    await fh.datasync();
    return sb;
  } finally {
    await fh.close();
  }
}

export async function readSuperblock(path: string): Promise<Superblock> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new EngineError('NOT_FOUND', `cannot open famfs device ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const head = Buffer.alloc(SUPERBLOCK_BYTES);
    await fh.read(head, 0, SUPERBLOCK_BYTES, 0);
    const sb = decodeSuperblock(head);
    if (typeof sb === 'string') throw new EngineError('INVALID', `${path}: ${sb} (make one with \`realize famfs mkfs ${path}\`)`);
    return sb;
  } finally {
    await fh.close();
  }
}

/**
 * Where this peer finds each device: STORE/famfs-devices.json, { "<uuid>": "/abs/path" }.
 * Local to the peer (not a projection: paths differ between hosts).
 */
export class DeviceRegistry {
  readonly file: string;
  #paths: Map<string, string> | null = null;

  constructor(storeRoot: string) {
    this.file = join(storeRoot, 'famfs-devices.json');
  }

  async #load(): Promise<Map<string, string>> {
    if (this.#paths !== null) return this.#paths;
    try {
      const j = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, string>;
      this.#paths = new Map(Object.entries(j));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new EngineError('IO', `${this.file} is damaged: ${(err as Error).message}`);
      this.#paths = new Map();
    }
    return this.#paths;
  }

  async path(uuid: string): Promise<string | undefined> {
    return (await this.#load()).get(uuid);
  }

  async all(): Promise<Map<string, string>> {
    return new Map(await this.#load());
  }

  async set(uuid: string, path: string): Promise<void> {
    const m = await this.#load();
    m.set(uuid, resolve(path));
    const tmp = `${this.file}.tmp`;
    await writeFile(tmp, `${JSON.stringify(Object.fromEntries([...m].sort()), null, 2)}\n`);
    await rename(tmp, this.file);
  }
}
