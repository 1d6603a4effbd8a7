/**
 * Shared test helpers for spec/log: deterministic keys and clocks, temp dirs that clean up,
 * byte snapshots of a directory, small writable streams that capture output, and a
 * read-only bind mount for the "read-only store" cases (tests run as root, so chmod alone
 * would not stop a write).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { crc32 } from 'node:zlib';
import { fakeNow, seededBytes, seededRandom } from '../../engine/helpers/env.js';

// Deterministic time and randomness: the one copy, shared with the engine specs.
export { fakeNow, seededBytes, seededRandom };
import {
  createEntry,
  FRAME_HEADER_BYTES,
  HybridClock,
  keyPairFromSeed,
  SEGMENT_HEADER_BYTES,
  Signer,
  type CborValue,
  type Entry,
  type KeyPair,
} from '../../../log/index.js';

/** Anything with tap's teardown. */
export interface HasTeardown {
  teardown(fn: () => unknown): void;
}

/** A 32-byte seed derived from a label: the same label always gives the same key. */
export function seedFor(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(`realize-test-seed:${label}`).digest());
}

export function keyFor(label: string): KeyPair {
  return keyPairFromSeed(seedFor(label));
}

export function signerFor(label: string): Signer {
  return new Signer(keyFor(label));
}


export function fakeClock(start = 1_700_000_000_000, step = 1): HybridClock {
  return new HybridClock(fakeNow(start, step));
}

export async function tempDir(t: HasTeardown, prefix = 'realize-spec-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Every file under `dir` (relative path -> bytes), to show that nothing changed. */
export async function snapshot(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (d: string): Promise<void> => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) {
        out.set(`${relative(dir, p)}/`, Buffer.alloc(0));
        await walk(p);
      } else out.set(relative(dir, p), await readFile(p));
    }
  };
  if ((await stat(dir).catch(() => null))?.isDirectory()) await walk(dir);
  return out;
}

/** Compares two snapshots; returns a list of differences (empty when identical). */
export function snapshotDiff(a: Map<string, Buffer>, b: Map<string, Buffer>): string[] {
  const diffs: string[] = [];
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined) diffs.push(`removed ${k}`);
    else if (!v.equals(w)) diffs.push(`changed ${k}`);
  }
  for (const k of b.keys()) if (!a.has(k)) diffs.push(`added ${k}`);
  return diffs;
}

export { capture, type Capture } from '../../engine/helpers/capture.js';

/** A chain of `n` entries of one feed, signed by `signer`, built without touching disk. */
export function chain(signer: Signer, n: number, opts: { area?: string; hlc0?: number; events?: (seq: number) => CborValue[] } = {}): Entry[] {
  const out: Entry[] = [];
  for (let seq = 0; seq < n; seq++) {
    const prev = out.at(-1);
    out.push(
      createEntry(
        {
          author: signer.publicKey,
          area: opts.area ?? '',
          seq,
          prev: prev === undefined ? null : prev.hash,
          hlc: (opts.hlc0 ?? 1_700_000_000_000_000) + seq,
          heads: [],
          events: opts.events?.(seq) ?? [{ type: 'note', seq, text: `entry ${seq}` }],
        },
        signer,
      ),
    );
  }
  return out;
}

/** Frame offsets of a segment file, parsed here independently of log/segment.ts. */
export function frameOffsets(seg: Buffer): number[] {
  const offs: number[] = [];
  let pos = SEGMENT_HEADER_BYTES;
  while (pos + FRAME_HEADER_BYTES <= seg.byteLength) {
    const len = seg.readUInt32LE(pos);
    if (pos + FRAME_HEADER_BYTES + len > seg.byteLength) break;
    offs.push(pos);
    pos += FRAME_HEADER_BYTES + len;
  }
  return offs;
}

/** Recomputes the CRC of the frame at `offset` (to forge damage that the checksum does not catch). */
export function fixFrameCrc(seg: Buffer, offset: number): void {
  const len = seg.readUInt32LE(offset);
  seg.writeUInt32LE(crc32(seg.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + len)), offset + 4);
}

/**
 * Makes `src` visible read-only at a new mount point (a read-only bind mount), so that even
 * root gets EROFS. Returns null (with the reason) where bind mounts are not allowed.
 */
export async function readOnlyView(t: HasTeardown, src: string): Promise<{ path: string } | { path: null; reason: string }> {
  // Not tempDir(): a recursive rm must never run through a mount point. One teardown
  // unmounts, then removes the (then empty) mount point and its parent, non-recursively.
  const base = await mkdtemp(join(tmpdir(), 'realize-ro-'));
  const mnt = join(base, 'mnt');
  await mkdir(mnt);
  let mounted = false;
  t.teardown(async () => {
    if (mounted) {
      try {
        execFileSync('umount', [mnt], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
      }
    }
    await rmdir(mnt);
    await rmdir(base);
  });
  try {
    execFileSync('mount', ['--bind', src, mnt], { stdio: 'pipe' });
    mounted = true;
    execFileSync('mount', ['-o', 'remount,bind,ro', mnt], { stdio: 'pipe' });
  } catch (err) {
    return { path: null, reason: `a read-only bind mount is not allowed here: ${(err as Error).message.split('\n')[0]}` };
  }
  // Prove that the view really is read-only, even for root.
  try {
    await writeFile(join(mnt, '.probe'), 'x');
    await rm(join(src, '.probe'), { force: true });
    return { path: null, reason: 'the read-only bind mount accepted a write' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EROFS') throw err;
  }
  return { path: mnt };
}

/** Deep copy with every byte string as a Buffer, so decoded and original values compare equal. */
export function norm(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(norm);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]));
  return v;
}
