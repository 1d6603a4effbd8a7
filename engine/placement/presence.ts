/**
 * How much of a file's current content is here: its distinct blocks (holes are not blocks),
 * how many of them the block store holds, and their bytes. `all`, `part` or `none`; an empty
 * file (or one of holes only) is `all`.
 */
import { BLOCK_SIZE, ZERO_BLOCK, type NodeId } from '../../log/index.js';
import { splitBlocks, type ContentRow } from '../../projections/index.js';
import type { BlockStore } from '../block-store.js';

export type Presence = 'all' | 'part' | 'none';

export interface ContentPresence {
  readonly blocks: number;
  readonly heldBlocks: number;
  /** Bytes of content of the distinct blocks (what a full download brings). */
  readonly bytes: number;
  readonly heldBytes: number;
  readonly presence: Presence;
}

export const EMPTY_PRESENCE: ContentPresence = { blocks: 0, heldBlocks: 0, bytes: 0, heldBytes: 0, presence: 'all' };

export function presenceLabel(blocks: number, held: number): Presence {
  return held >= blocks ? 'all' : held === 0 ? 'none' : 'part';
}

/** The distinct non-hole blocks of a content row, with the bytes each holds. */
export function* distinctBlocks(row: ContentRow): Generator<{ hash: Uint8Array; index: number; bytes: number }> {
  const seen = new Set<string>();
  let index = 0;
  for (const hash of splitBlocks(row.blocks)) {
    const i = index++;
    if (Buffer.compare(hash, ZERO_BLOCK) === 0) continue;
    const k = Buffer.from(hash).toString('hex');
    if (seen.has(k)) continue;
    seen.add(k);
    yield { hash, index: i, bytes: Math.max(0, Math.min(BLOCK_SIZE, row.size - i * BLOCK_SIZE)) };
  }
}

export function rowPresence(row: ContentRow | undefined, blocks: BlockStore): ContentPresence {
  if (row === undefined) return EMPTY_PRESENCE;
  let n = 0;
  let held = 0;
  let bytes = 0;
  let heldBytes = 0;
  for (const b of distinctBlocks(row)) {
    n++;
    bytes += b.bytes;
    if (blocks.has(b.hash)) {
      held++;
      heldBytes += b.bytes;
    }
  }
  return { blocks: n, heldBlocks: held, bytes, heldBytes, presence: presenceLabel(n, held) };
}

/** Adds presences up (a directory's files). */
export function sumPresence(parts: Iterable<ContentPresence>): ContentPresence {
  let blocks = 0;
  let heldBlocks = 0;
  let bytes = 0;
  let heldBytes = 0;
  for (const p of parts) {
    blocks += p.blocks;
    heldBlocks += p.heldBlocks;
    bytes += p.bytes;
    heldBytes += p.heldBytes;
  }
  return { blocks, heldBlocks, bytes, heldBytes, presence: presenceLabel(blocks, heldBlocks) };
}

/** The file ids at and below node `id` (a file: itself), each once. */
export function* filesUnder(children: (dir: NodeId) => Iterable<{ id: NodeId }>, kindOf: (id: NodeId) => string | undefined, id: NodeId): Generator<NodeId> {
  const kind = kindOf(id);
  if (kind === 'file') {
    yield id;
    return;
  }
  if (kind !== 'dir') return;
  const seen = new Set<NodeId>();
  const stack: NodeId[] = [id];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    for (const { id: child } of children(dir)) {
      const k = kindOf(child);
      if (k === 'dir') stack.push(child);
      else if (k === 'file' && !seen.has(child)) {
        seen.add(child);
        yield child;
      }
    }
  }
}
