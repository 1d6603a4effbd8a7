/**
 * Segment framing. A segment file is a 16-byte header followed by frames:
 *
 *   header = "RLZSEG" 0x00 0x01 (8 bytes) || first sequence number (u64 LE)
 *   frame  = payload length (u32 LE) || CRC-32 of payload (u32 LE) || payload (one entry record)
 *
 * The CRC detects a torn or corrupted frame; the length bounds the scan.
 */
import { crc32 } from 'node:zlib';

export const SEGMENT_MAGIC = Buffer.from('RLZSEG\x00\x01', 'latin1');
export const SEGMENT_HEADER_BYTES = 16;
export const FRAME_HEADER_BYTES = 8;
/** An entry record may not exceed this; a larger length is corruption, not an entry. */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024;

export function encodeSegmentHeader(firstSeq: number): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(b, 0);
  b.writeBigUInt64LE(BigInt(firstSeq), 8);
  return b;
}

/** Returns the first sequence number, or null when the bytes are not a segment header. */
export function decodeSegmentHeader(b: Buffer): number | null {
  if (b.byteLength < SEGMENT_HEADER_BYTES || !b.subarray(0, 8).equals(SEGMENT_MAGIC)) return null;
  const first = b.readBigUInt64LE(8);
  return first > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(first);
}

export function encodeFrame(payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  b.writeUInt32LE(payload.byteLength, 0);
  b.writeUInt32LE(crc32(payload), 4);
  b.set(payload, FRAME_HEADER_BYTES);
  return b;
}

export type FrameCheck =
  | { readonly kind: 'ok'; readonly payloadLength: number }
  | { readonly kind: 'short' } // the frame runs past the end of the bytes available
  | { readonly kind: 'bad'; readonly reason: string };

/** Checks the frame at `offset` of `buf` (which holds bytes up to the end of what was read). */
export function checkFrame(buf: Buffer, offset: number): FrameCheck {
  if (offset + FRAME_HEADER_BYTES > buf.byteLength) return { kind: 'short' };
  const len = buf.readUInt32LE(offset);
  if (len === 0 || len > MAX_RECORD_BYTES) return { kind: 'bad', reason: `impossible frame length ${len}` };
  if (offset + FRAME_HEADER_BYTES + len > buf.byteLength) return { kind: 'short' };
  const crc = buf.readUInt32LE(offset + 4);
  const payload = buf.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + len);
  if (crc32(payload) !== crc) return { kind: 'bad', reason: 'checksum mismatch' };
  return { kind: 'ok', payloadLength: len };
}
