/**
 * Full verification of a feed: every frame's checksum (on read), every entry's structure,
 * chain link, sequence number and signature. Stops at the first bad entry and names it.
 */
import { checkLink, decodeRecord, verifyEntry, type Entry } from './entry.js';
import type { Feed } from './feed.js';
import { LogError } from './log-error.js';
import { ITEM_BYTES, SignaturePool } from './signature-pool.js';

export interface FeedProblem {
  readonly feed: string;
  readonly seq: number;
  readonly segment: string;
  readonly offset: number;
  readonly code: string;
  readonly message: string;
}

const CHUNK = 2048;
/** Batches in flight at once: enough to keep every worker busy while the main thread reads on. */
const IN_FLIGHT = 4;

/**
 * Returns null when the whole feed verifies; else the first problem. Frames, structure and
 * the hash chain are checked here, in order; signatures in parallel on worker threads
 * (signature-pool.ts), each batch answered in order, so the first bad entry is the one named.
 */
export async function verifyFeed(feed: Feed, onProgress?: (done: number) => void): Promise<FeedProblem | null> {
  const pool = feed.length > CHUNK ? new SignaturePool() : null;
  const problemAt = (seq: number, err: unknown): FeedProblem => {
    const where = feed.location(seq);
    const code = err instanceof LogError ? err.code : 'MALFORMED_ENTRY';
    return { feed: feed.name, seq, segment: where.segment, offset: where.offset, code, message: (err as Error).message };
  };
  const inFlight: Array<{ from: number; bad: Promise<number>; entries: Entry[] }> = [];
  const settle = async (): Promise<FeedProblem | null> => {
    const batch = inFlight.shift()!;
    const bad = await batch.bad;
    if (bad >= 0) {
      const e = batch.entries[bad]!;
      return problemAt(batch.from + bad, new LogError('BAD_SIGNATURE', `entry ${e.seq} of feed ${feed.name} has a bad signature`));
    }
    onProgress?.(batch.from + batch.entries.length);
    return null;
  };
  try {
    let prev: Entry | null = null;
    for (let from = 0; from < feed.length; from += CHUNK) {
      const records = await feed.readRecords(from, from + CHUNK);
      const entries: Entry[] = [];
      const items = pool ? new Uint8Array(records.length * ITEM_BYTES) : null;
      for (let i = 0; i < records.length; i++) {
        const seq = from + i;
        try {
          const entry: Entry = decodeRecord(records[i]!);
          checkLink(feed.id, prev, entry);
          if (items) {
            items.set(entry.author, i * ITEM_BYTES);
            items.set(entry.hash, i * ITEM_BYTES + 32);
            items.set(entry.signature, i * ITEM_BYTES + 64);
          } else {
            verifyEntry(entry);
          }
          entries.push(entry);
          prev = entry;
        } catch (err) {
          // Earlier batches still in flight come first: their problem is the first one.
          while (inFlight.length > 0) {
            const p = await settle();
            if (p) return p;
          }
          return problemAt(seq, err);
        }
      }
      if (!pool || !items) {
        onProgress?.(from + records.length);
        continue;
      }
      inFlight.push({ from, bad: pool.verify(items), entries });
      if (inFlight.length >= IN_FLIGHT) {
        const p = await settle();
        if (p) return p;
      }
    }
    while (inFlight.length > 0) {
      const p = await settle();
      if (p) return p;
    }
    return null;
  } finally {
    await pool?.close();
  }
}
