/**
 * What changed between two positions of the log, for an incremental --into replay: the ids
 * of every node an event names (its id, parent, new parent, area root), and the ids moved by
 * a rename (their whole subtree may stand at other paths now). Per feed, the entries between
 * the two lengths are read, whichever way the replay goes. Null when it cannot be told: a
 * feed's entry at the old position is not the one recorded (the log was replaced), or the
 * change is too big to be worth holding.
 */
import { bytesEqual, type FeedSet } from '../../log/index.js';

export interface Touched {
  readonly touched: ReadonlySet<string>;
  readonly moved: ReadonlySet<string>;
}

type Position = Readonly<Record<string, { readonly length: number; readonly hash: string }>>;

const MAX_IDS = 1_000_000;
const CHUNK = 1024;

export async function touchedSince(feeds: FeedSet, before: Position, after: Position): Promise<Touched | null> {
  const touched = new Set<string>();
  const moved = new Set<string>();
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[name]?.length ?? 0;
    const b = after[name]?.length ?? 0;
    if (a === b && (a === 0 || before[name]!.hash === after[name]!.hash)) continue;
    const feed = feeds.get(name);
    if (feed === undefined) return null;
    // Both positions must lie on this feed as it is now.
    for (const p of [before[name], after[name]]) {
      if (p === undefined || p.length === 0) continue;
      if (p.length > feed.length) return null;
      const e = await feed.get(p.length - 1);
      if (!bytesEqual(e.hash, Buffer.from(p.hash, 'hex'))) return null;
    }
    for (let from = Math.min(a, b); from < Math.max(a, b); from += CHUNK) {
      for (const entry of await feed.read(from, Math.min(Math.max(a, b), from + CHUNK))) {
        for (const raw of entry.events as unknown[]) {
          if (typeof raw !== 'object' || raw === null) continue;
          const e = raw as Record<string, unknown>;
          for (const k of ['id', 'parent', 'newParent', 'root']) if (typeof e[k] === 'string') touched.add(e[k] as string);
          if (e['type'] === 'rename' && typeof e['id'] === 'string') moved.add(e['id'] as string);
        }
        if (touched.size > MAX_IDS) return null;
      }
    }
  }
  return { touched, moved };
}
