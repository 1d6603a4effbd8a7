/**
 * One segment file of a feed: its frames' offsets, found by scanning, and positioned reads.
 * Scanning detects a torn tail (cut back by the caller) and corruption in the middle
 * (an error naming the feed, sequence number and byte offset).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { checkFrame, decodeSegmentHeader, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './frame.js';
import { LogError } from './log-error.js';

const SCAN_CHUNK = 4 * 1024 * 1024;

export interface ScanResult {
  readonly firstSeq: number;
  /** Byte offset of each whole frame. */
  readonly offsets: number[];
  /** Where the last whole frame ends. */
  readonly validEnd: number;
  readonly fileSize: number;
  /** Set when bytes after validEnd form no whole frame (a torn tail). */
  readonly torn: { readonly offset: number; readonly reason: string } | null;
}

export function segmentFileName(firstSeq: number): string {
  return `${String(firstSeq).padStart(16, '0')}.seg`;
}

export function parseSegmentFileName(name: string): number | null {
  const m = /^(\d{16})\.seg$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** Reads until `length` bytes or the end of the file (shorter only at the end). */
export async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/**
 * Scans a segment. `where` names it in errors (feed and file). A bad frame counts as a torn
 * tail only when nothing whole follows it; otherwise the segment is corrupt.
 */
export async function scanSegment(fh: FileHandle, where: string): Promise<ScanResult> {
  const { size } = await fh.stat();
  const header = await readAt(fh, 0, SEGMENT_HEADER_BYTES);
  const firstSeq = header.byteLength === SEGMENT_HEADER_BYTES ? decodeSegmentHeader(header) : null;
  if (firstSeq === null) {
    throw new LogError('NOT_A_SEGMENT', `${where}: not a Realize segment (bad or missing header)`);
  }
  const offsets: number[] = [];
  let bufStart = SEGMENT_HEADER_BYTES;
  let buf = await readAt(fh, bufStart, Math.min(SCAN_CHUNK, size - bufStart));
  let pos = SEGMENT_HEADER_BYTES;
  for (;;) {
    const rel = pos - bufStart;
    const check = checkFrame(buf, rel);
    if (check.kind === 'ok') {
      offsets.push(pos);
      pos += FRAME_HEADER_BYTES + check.payloadLength;
      continue;
    }
    const bufEnd = bufStart + buf.byteLength;
    if (check.kind === 'short' && bufEnd < size) {
      // Need more bytes: keep the unread part and read on (at least the whole frame).
      const want = rel + FRAME_HEADER_BYTES <= buf.byteLength ? FRAME_HEADER_BYTES + buf.readUInt32LE(rel) : FRAME_HEADER_BYTES;
      const more = await readAt(fh, bufEnd, Math.min(Math.max(SCAN_CHUNK, want), size - bufEnd));
      buf = Buffer.concat([buf.subarray(rel), more]);
      bufStart = pos;
      continue;
    }
    if (pos === size) return { firstSeq, offsets, validEnd: pos, fileSize: size, torn: null };
    const reason = check.kind === 'short' ? 'incomplete frame' : check.reason;
    if (await anyWholeFrameAfter(fh, pos, size)) {
      throw new LogError(
        'CORRUPT_SEGMENT',
        `${where}: entry ${firstSeq + offsets.length} at byte offset ${pos} is corrupt (${reason}) and whole entries follow it; refusing to skip it`,
      );
    }
    return { firstSeq, offsets, validEnd: pos, fileSize: size, torn: { offset: pos, reason } };
  }
}

/** Looks for any whole, checksummed frame starting after `from` (byte by byte; only on a damaged tail). */
async function anyWholeFrameAfter(fh: FileHandle, from: number, size: number): Promise<boolean> {
  const rest = await readAt(fh, from, size - from);
  if (rest.every((b) => b === 0)) return false;
  for (let i = 1; i + FRAME_HEADER_BYTES < rest.byteLength; i++) {
    if (checkFrame(rest, i).kind === 'ok') return true;
  }
  return false;
}

export async function openSegment(path: string, writable: boolean): Promise<FileHandle> {
  try {
    return await open(path, writable ? 'r+' : 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EROFS' || code === 'EPERM') {
      throw new LogError('READ_ONLY', `cannot open ${path} for writing: the store is read-only (${code})`, { cause: err });
    }
    throw new LogError('IO', `cannot open ${path}: ${(err as Error).message}`, { cause: err });
  }
}

