/**
 * Which content blocks an entry names: the [index, hash] pairs of its write events and the
 * tail of its truncates. A receiver asks for those it lacks, by hash, and checks each block it
 * gets against its hash before storing it. It asks only for the blocks of files it keeps Real
 * (`wants`, from engine/placement): an Unreal file's blocks are fetched when they are read.
 */
import { bytesEqual, validateEvent, ZERO_BLOCK, type Entry, type Feed, type NodeId } from '../../log/index.js';
import type { BlockStore } from '../block-store.js';

/** Whether this peer wants the content of file `id` complete here (Real); absent: every file. */
export type WantsContent = (id: NodeId) => boolean;

/** The blocks an entry names, with the file each belongs to. */
export function blocksNamedBy(entry: Entry): Array<readonly [NodeId, Uint8Array]> {
  const out: Array<readonly [NodeId, Uint8Array]> = [];
  for (const raw of entry.events) {
    // Only writes and truncates name blocks: the others (most of a metadata-heavy entry) are
    // not worth validating here (appending the entry validated them).
    const type = (raw as { readonly type?: unknown } | null)?.type;
    if (type !== 'write' && type !== 'truncate') continue;
    let e;
    try {
      e = validateEvent(raw);
    } catch {
      continue;
    }
    if (e.type === 'write') {
      for (const [, h] of e.blocks) if (!bytesEqual(h, ZERO_BLOCK)) out.push([e.id, h]);
    } else if (e.type === 'truncate' && e.tail !== null && !bytesEqual(e.tail, ZERO_BLOCK)) out.push([e.id, e.tail]);
  }
  return out;
}

export function blocksNamed(entry: Entry): Uint8Array[] {
  return blocksNamedBy(entry).map(([, h]) => h);
}

function named(entry: Entry, wants: WantsContent | undefined): Uint8Array[] {
  if (wants === undefined) return blocksNamed(entry);
  const verdicts = new Map<NodeId, boolean>();
  const out: Uint8Array[] = [];
  for (const [id, h] of blocksNamedBy(entry)) {
    let v = verdicts.get(id);
    if (v === undefined) verdicts.set(id, (v = wants(id)));
    if (v) out.push(h);
  }
  return out;
}

/** The blocks `entries` name that `blocks` lacks (each once, in order), of the files `wants` keeps. */
export function missingBlocks(entries: readonly Entry[], blocks: BlockStore, wants?: WantsContent): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const entry of entries) {
    for (const h of named(entry, wants)) {
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
 * Scans `feed` from entry `from` for blocks not held (of the files `wants` keeps). Returns
 * them, and `complete`: the length up to which every such block is held (the first entry
 * with a missing block). Blocks of Unreal files count as held: making such a file Real later
 * fetches them from its content (engine/placement/realizer.ts), not from this scan.
 */
export async function scanMissing(feed: Feed, from: number, blocks: BlockStore, wants?: WantsContent): Promise<{ missing: Buffer[]; complete: number }> {
  const missing: Buffer[] = [];
  const seen = new Set<string>();
  let complete = -1;
  const length = feed.length;
  for (let at = from; at < length; at += 1024) {
    const entries = await feed.read(at, Math.min(length, at + 1024));
    for (const entry of entries) {
      for (const h of named(entry, wants)) {
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
