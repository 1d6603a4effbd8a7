/**
 * Full verification of a feed: every frame's checksum (on read), every entry's structure,
 * chain link, sequence number and signature. Stops at the first bad entry and names it.
 */
import { checkLink, decodeRecord, verifyEntry, type Entry } from './entry.js';
import type { Feed } from './feed.js';
import { LogError } from './log-error.js';

export interface FeedProblem {
  readonly feed: string;
  readonly seq: number;
  readonly segment: string;
  readonly offset: number;
  readonly code: string;
  readonly message: string;
}

const CHUNK = 1024;

/** Returns null when the whole feed verifies; else the first problem. */
export async function verifyFeed(feed: Feed, onProgress?: (done: number) => void): Promise<FeedProblem | null> {
  let prev: Entry | null = null;
  for (let from = 0; from < feed.length; from += CHUNK) {
    const records = await feed.readRecords(from, from + CHUNK);
    for (let i = 0; i < records.length; i++) {
      const seq = from + i;
      try {
        const entry: Entry = decodeRecord(records[i]!);
        checkLink(feed.id, prev, entry);
        verifyEntry(entry);
        prev = entry;
      } catch (err) {
        const where = feed.location(seq);
        const code = err instanceof LogError ? err.code : 'MALFORMED_ENTRY';
        return { feed: feed.name, seq, segment: where.segment, offset: where.offset, code, message: (err as Error).message };
      }
    }
    onProgress?.(Math.min(feed.length, from + CHUNK));
  }
  return null;
}
