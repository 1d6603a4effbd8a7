/**
 * The on-disk format of the block store (spec/block-format.md): pack files of self-describing
 * block records, the `synced` marker and the `gc-intent` file, and the scanner that finds the
 * whole records of a pack (for recovery on open, for reindex) and tells a torn tail from
 * damage in the middle.
 *
 *   pack    = pack header (16 bytes) || record*
 *   header  = "RLZPACK" 0x01 (8) || pack number u32 LE || CRC-32 of bytes 0..11 u32 LE
 *   record  = "RLZB" (4) || version u8 = 1 || codec u8 || 0 u16 || stored length u32 LE
 *             || content length u32 LE || SHA-256 of the content (32)
 *             || CRC-32 of bytes 0..47 and the payload u32 LE || payload (stored length bytes)
 *
 * Every integer is little-endian. A record is 52 bytes of header and its payload; records
 * follow each other with no padding.
 */
import { readAt } from '../log/index.js';
import { createHash, webcrypto } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';

export const PACK_MAGIC = Buffer.from('RLZPACK\x01', 'latin1');
export const PACK_HEADER_BYTES = 16;
export const RECORD_MAGIC = Buffer.from('RLZB', 'latin1');
export const RECORD_VERSION = 1;
export const RECORD_HEADER_BYTES = 52;
/** Codec 0: the payload is the content. Codec 1: the payload is the content, deflate-raw. */
export const CODEC_RAW = 0;
export const CODEC_DEFLATE = 1;
/** No record holds more content than this; a larger length in a header is damage, not a record. */
export const MAX_CONTENT_BYTES = 16 * 1024 * 1024;
export const HASH_BYTES = 32;

export const SYNCED_FILE = 'synced';
export const SYNCED_MAGIC = Buffer.from('RLZS', 'latin1');
export const SYNCED_BYTES = 24;
export const GC_INTENT_FILE = 'gc-intent';

const PACK_NAME_RE = /^pack-(\d{8})\.dat$/;

export function packFileName(n: number): string {
  return `pack-${String(n).padStart(8, '0')}.dat`;
}

export function parsePackFileName(name: string): number | null {
  const m = PACK_NAME_RE.exec(name);
  return m ? Number(m[1]) : null;
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** The same hash, computed in libuv's thread pool (WebCrypto's digest runs there). */
export async function sha256Async(data: Uint8Array): Promise<Buffer> {
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', data));
}

export function encodePackHeader(n: number): Buffer {
  const b = Buffer.alloc(PACK_HEADER_BYTES);
  PACK_MAGIC.copy(b, 0);
  b.writeUInt32LE(n, 8);
  b.writeUInt32LE(crc32(b.subarray(0, 12)), 12);
  return b;
}

/** The pack number a header names, or null when the bytes are not a pack header. */
export function decodePackHeader(b: Buffer): number | null {
  if (b.byteLength < PACK_HEADER_BYTES || !b.subarray(0, 8).equals(PACK_MAGIC)) return null;
  if (crc32(b.subarray(0, 12)) !== b.readUInt32LE(12)) return null;
  return b.readUInt32LE(8);
}

/** One record: header and payload in one buffer. */
export function encodeRecord(hash: Uint8Array, codec: number, payload: Uint8Array, size: number, crc?: number): Buffer {
  return Buffer.concat([encodeRecordHead(hash, codec, payload, size, crc), payload], RECORD_HEADER_BYTES + payload.byteLength);
}

/**
 * The CRC-32 `crc` continued over `data`. zlib's crc32 answers 0, not `crc`, for a buffer
 * without memory (a view of length 0 whose ArrayBuffer V8 made once `.buffer` was read has a
 * null data pointer, and zlib takes a null buffer as a request for the initial value): an
 * empty block's record got a CRC of 0 and then read as corrupt.
 */
export function crcOn(data: Uint8Array, crc: number): number {
  return data.byteLength === 0 ? crc : crc32(data, crc);
}

/**
 * The 52-byte header of a record whose payload stays a buffer of its own (written after the
 * header with one writev): the same bytes as encodeRecord's, without copying the payload.
 * `crc`, when given, is the record's CRC computed already (recordHeadPrefix).
 */
export function encodeRecordHead(hash: Uint8Array, codec: number, payload: Uint8Array, size: number, crc?: number): Buffer {
  const b = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
  writeHeadPrefix(b, codec, payload.byteLength, size);
  b.set(hash, 16);
  b.writeUInt32LE(crc ?? crcOn(payload, crc32(b.subarray(0, 48))), 48);
  return b;
}

/**
 * The first 16 bytes of a record's header (magic, version, codec, lengths): what precedes the
 * hash. With the hash they are the 48 bytes the CRC covers before the payload, so whoever
 * hashes a payload can compute its record's CRC too (engine/block-hasher.ts) and hand it to
 * encodeRecordHead.
 */
export function recordHeadPrefix(codec: number, stored: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(16);
  writeHeadPrefix(b, codec, stored, size);
  return b;
}

/**
 * The CRC field of the raw record (CODEC_RAW) that stores `data` under `hash`: what a peer
 * serving the block from such a record reads there, and sends with it (spec/wire-format.md,
 * BLOCKS_CRC).
 */
export function recordCrcOf(hash: Uint8Array, data: Uint8Array): number {
  const head = Buffer.allocUnsafe(48);
  writeHeadPrefix(head, CODEC_RAW, data.byteLength, data.byteLength);
  head.set(hash, 16);
  return crcOn(data, crc32(head));
}

function writeHeadPrefix(b: Buffer, codec: number, stored: number, size: number): void {
  RECORD_MAGIC.copy(b, 0);
  b[4] = RECORD_VERSION;
  b[5] = codec;
  b.writeUInt16LE(0, 6);
  b.writeUInt32LE(stored, 8);
  b.writeUInt32LE(size, 12);
}

/** Whether a record's CRC (header field) matches its first 48 header bytes and its payload. */
export function recordCrcHolds(head: Buffer, payload: Uint8Array): boolean {
  return crcOn(payload, crc32(head.subarray(0, 48))) === head.readUInt32LE(48);
}

function recordCrc(rec: Buffer, stored: number): number {
  return crcOn(rec.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + stored), crc32(rec.subarray(0, 48)));
}

export interface RecordHeader {
  readonly codec: number;
  readonly stored: number;
  readonly size: number;
  readonly hash: Buffer;
}

/** Parses and checks a record header (not the CRC, which needs the payload); a string says what is wrong. */
export function parseRecordHeader(b: Buffer, at = 0): RecordHeader | string {
  if (at + RECORD_HEADER_BYTES > b.byteLength) return 'short header';
  if (b.compare(RECORD_MAGIC, 0, 4, at, at + 4) !== 0) return 'no record magic';
  if (b[at + 4] !== RECORD_VERSION) return `unknown record version ${b[at + 4]}`;
  const codec = b[at + 5]!;
  if (codec !== CODEC_RAW && codec !== CODEC_DEFLATE) return `unknown codec ${codec}`;
  if (b.readUInt16LE(at + 6) !== 0) return 'reserved bytes are not zero';
  const stored = b.readUInt32LE(at + 8);
  const size = b.readUInt32LE(at + 12);
  if (size > MAX_CONTENT_BYTES) return `impossible content length ${size}`;
  if (codec === CODEC_RAW ? stored !== size : stored >= size) return `stored length ${stored} does not fit codec ${codec} and content length ${size}`;
  return { codec, stored, size, hash: b.subarray(at + 16, at + 48) };
}

/** Checks a whole record at `at` of `b`: header and CRC. */
export function checkRecord(b: Buffer, at: number): RecordHeader | string {
  const h = parseRecordHeader(b, at);
  if (typeof h === 'string') return h;
  if (at + RECORD_HEADER_BYTES + h.stored > b.byteLength) return 'short record';
  if (recordCrc(b.subarray(at), h.stored) !== b.readUInt32LE(at + 48)) return 'checksum mismatch';
  return h;
}

/** Writes every buffer at `position`, in as few positioned writes as the kernel allows. */
export async function writeAllAt(fh: FileHandle, bufs: readonly Buffer[], position: number): Promise<void> {
  const IOV = 512;
  let i = 0;
  let pos = position;
  let first: Buffer | null = null; // the unwritten rest of bufs[i], after a short write
  while (i < bufs.length) {
    const batch = bufs.slice(i, i + IOV);
    if (first !== null) batch[0] = first;
    const want = batch.reduce((n, b) => n + b.byteLength, 0);
    const { bytesWritten } = await fh.writev(batch, pos);
    pos += bytesWritten;
    if (bytesWritten === want) {
      i += batch.length;
      first = null;
      continue;
    }
    let left = bytesWritten;
    let k = 0;
    while (left >= batch[k]!.byteLength) left -= batch[k++]!.byteLength;
    i += k;
    first = batch[k]!.subarray(left);
  }
}

// ------------------------------------------------------------------ scanning

export interface ScannedRecord {
  readonly offset: number;
  /** Bytes of the whole record (header and payload). */
  readonly length: number;
  readonly codec: number;
  readonly stored: number;
  readonly size: number;
  readonly hash: Buffer;
}

export interface BadRegion {
  readonly offset: number;
  readonly length: number;
  readonly reason: string;
}

export interface PackScan {
  readonly records: ScannedRecord[];
  /** Damaged bytes with whole records after them: skipped, never served, left for gc. */
  readonly bad: BadRegion[];
  /** Where the last whole record ends (or where the scan began, when it found none). */
  readonly validEnd: number;
  /** Bytes after validEnd that form no whole record: a torn tail, to be cut. */
  readonly torn: BadRegion | null;
}

const SCAN_CHUNK = 8 * 1024 * 1024;

/** A sliding window over a file, for scanning. */
class Window {
  #start = 0;
  #buf: Buffer = Buffer.alloc(0);
  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
  ) {}

  /** Bytes [pos, pos + n) of the file, or null when they run past its end. */
  async get(pos: number, n: number): Promise<Buffer | null> {
    if (pos + n > this.size) return null;
    if (pos >= this.#start && pos + n <= this.#start + this.#buf.byteLength) {
      return this.#buf.subarray(pos - this.#start, pos - this.#start + n);
    }
    const len = Math.min(this.size - pos, Math.max(n, SCAN_CHUNK));
    const buf = await readAt(this.fh, pos, len);
    if (buf.byteLength < n) return null; // the file shrank under us
    this.#start = pos;
    this.#buf = buf;
    return buf.subarray(0, n);
  }
}

async function recordAt(w: Window, pos: number): Promise<RecordHeader | string> {
  const head = await w.get(pos, RECORD_HEADER_BYTES);
  if (head === null) return 'incomplete record header';
  const h = parseRecordHeader(head, 0);
  if (typeof h === 'string') return h;
  const whole = await w.get(pos, RECORD_HEADER_BYTES + h.stored);
  if (whole === null) return 'incomplete record';
  const checked = checkRecord(whole, 0);
  if (typeof checked === 'string') return checked;
  return { ...checked, hash: Buffer.from(checked.hash) };
}

/** The next offset after `from` where a whole record starts, or null. */
async function nextRecord(w: Window, from: number, size: number): Promise<number | null> {
  let at = from;
  while (at + RECORD_HEADER_BYTES <= size) {
    const chunk = await w.get(at, Math.min(SCAN_CHUNK, size - at));
    if (chunk === null) return null;
    const i = chunk.indexOf(RECORD_MAGIC);
    if (i < 0) {
      at += Math.max(1, chunk.byteLength - (RECORD_MAGIC.byteLength - 1));
      continue;
    }
    const cand = at + i;
    if (typeof (await recordAt(w, cand)) !== 'string') return cand;
    at = cand + 1;
  }
  return null;
}

/**
 * Scans a pack from `from` (a record boundary) to `size`. A damaged record followed by whole
 * records is a bad region (skipped); damage with nothing whole after it is a torn tail. Whole
 * records are checked by CRC only: content hashes are checked when a block is read.
 */
export async function scanPack(fh: FileHandle, from: number, size: number): Promise<PackScan> {
  const w = new Window(fh, size);
  const records: ScannedRecord[] = [];
  const bad: BadRegion[] = [];
  let pos = from;
  let validEnd = from;
  while (pos < size) {
    const r = await recordAt(w, pos);
    if (typeof r !== 'string') {
      const length = RECORD_HEADER_BYTES + r.stored;
      records.push({ offset: pos, length, codec: r.codec, stored: r.stored, size: r.size, hash: r.hash });
      pos += length;
      validEnd = pos;
      continue;
    }
    const next = await nextRecord(w, pos + 1, size);
    if (next === null) return { records, bad, validEnd, torn: { offset: pos, length: size - pos, reason: r } };
    bad.push({ offset: pos, length: next - pos, reason: r });
    pos = next;
  }
  return { records, bad, validEnd, torn: null };
}

// ------------------------------------------------------------------ marker and intent

export interface SyncedMark {
  readonly pack: number;
  readonly offset: number;
}

/** `synced`: "RLZS" || version u8 = 1 || 0 0 0 || pack u32 || offset u64 || CRC-32 of bytes 0..19. */
export function encodeSynced(m: SyncedMark): Buffer {
  const b = Buffer.alloc(SYNCED_BYTES);
  SYNCED_MAGIC.copy(b, 0);
  b[4] = 1;
  b.writeUInt32LE(m.pack, 8);
  b.writeBigUInt64LE(BigInt(m.offset), 12);
  b.writeUInt32LE(crc32(b.subarray(0, 20)), 20);
  return b;
}

export function decodeSynced(b: Buffer): SyncedMark | null {
  if (b.byteLength < SYNCED_BYTES || !b.subarray(0, 4).equals(SYNCED_MAGIC) || b[4] !== 1) return null;
  if (crc32(b.subarray(0, 20)) !== b.readUInt32LE(20)) return null;
  const offset = b.readBigUInt64LE(12);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { pack: b.readUInt32LE(8), offset: Number(offset) };
}

/** `gc-intent`: JSON {"retire": [pack numbers]} (written to gc-intent.tmp, then renamed). */
export function encodeGcIntent(retire: readonly number[]): Buffer {
  return Buffer.from(JSON.stringify({ retire }) + '\n', 'utf8');
}

export function decodeGcIntent(b: Buffer): number[] | null {
  try {
    const v = JSON.parse(b.toString('utf8')) as { retire?: unknown };
    if (!Array.isArray(v.retire) || !v.retire.every((n) => Number.isSafeInteger(n) && (n as number) > 0)) return null;
    return v.retire as number[];
  } catch {
    return null;
  }
}

/** Positioned reads that keep reading until `length` bytes or the end of the file: the log's. */
export { readAt };
