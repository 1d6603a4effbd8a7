/**
 * Which content blocks an entry names: the [index, hash] pairs of its write events and the
 * tail of its truncates. A receiver asks for those it lacks, by hash, and checks each block it
 * gets against its hash before storing it.
 */
import { bytesEqual, validateEvent, ZERO_BLOCK, type Entry, type Feed } from '../../log/index.js';
import type { BlockStore } from '../block-store.js';

export function blocksNamed(entry: Entry): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const raw of entry.events) {
    let e;
    try {
      e = validateEvent(raw);
    } catch {
      continue;
    }
    if (e.type === 'write') for (const [, h] of e.blocks) out.push(h);
    else if (e.type === 'truncate' && e.tail !== null) out.push(e.tail);
  }
  return out.filter((h) => !bytesEqual(h, ZERO_BLOCK));
}

/** The blocks `entries` name that `blocks` lacks (each once, in order). */
export function missingBlocks(entries: readonly Entry[], blocks: BlockStore): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const entry of entries) {
    for (const h of blocksNamed(entry)) {
      const b = Buffer.from(h);
      const k = b.toString('hex');
      if (seen.has(k)) continue;
      seen.add(k);
      if (!blocks.has(b)) out.push(b);
    }
  }
  return out;
}

/**
 * Scans `feed` from entry `from` for blocks not held. Returns them, and `complete`: the
 * length up to which every named block is held (the first entry with a missing block).
 */
export async function scanMissing(feed: Feed, from: number, blocks: BlockStore): Promise<{ missing: Buffer[]; complete: number }> {
  const missing: Buffer[] = [];
  const seen = new Set<string>();
  let complete = -1;
  const length = feed.length;
  for (let at = from; at < length; at += 1024) {
    const entries = await feed.read(at, Math.min(length, at + 1024));
    for (const entry of entries) {
      for (const h of blocksNamed(entry)) {
        const b = Buffer.from(h);
        const k = b.toString('hex');
        if (seen.has(k) || blocks.has(b)) continue;
        seen.add(k);
        missing.push(b);
        if (complete < 0) complete = entry.seq;
      }
    }
  }
  return { missing, complete: complete < 0 ? length : complete };
}
