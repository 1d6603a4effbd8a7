/** Turns a position as written (see position.ts) into an apply position of this store. */
import { hlcWallMs } from '../log/index.js';
import { EngineError } from './engine-error.js';
import type { Engine } from './engine.js';
import { parsePosition } from './position.js';
import { readTags } from './tags.js';

export interface ResolvedPosition {
  readonly n: number;
  /** Wall time of the entry at n (null at 0). */
  readonly time: number | null;
  readonly text: string;
}

function entryPosition(engine: Engine, prefix: string, seq: number): number {
  const feeds = engine.store.feeds.list().filter((f) => f.name.startsWith(prefix));
  if (feeds.length === 0) throw new EngineError('BAD_ARGUMENT', `no feed's name starts with ${prefix}`);
  if (feeds.length > 1) throw new EngineError('BAD_ARGUMENT', `${prefix} names ${feeds.length} feeds; give more of the name`);
  const feed = feeds[0]!;
  if (seq >= feed.length) throw new EngineError('BAD_ARGUMENT', `feed ${feed.name.slice(0, 16)}… has no entry ${seq} (it holds ${feed.length})`);
  const n = engine.projections.positions.of(feed.name, seq);
  if (n === undefined) throw new EngineError('BAD_ARGUMENT', `entry ${seq} of feed ${feed.name.slice(0, 16)}… is not applied yet`);
  return n;
}

export async function resolvePosition(engine: Engine, text: string | undefined): Promise<ResolvedPosition> {
  const head = engine.projections.head;
  const pos = parsePosition(text ?? 'head', engine.env.now());
  let n: number;
  switch (pos.kind) {
    case 'head':
      n = head;
      break;
    case 'n':
      if (pos.n > head) throw new EngineError('BAD_ARGUMENT', `no position @${pos.n}: the log holds @0 to @${head}`);
      n = pos.n;
      break;
    case 'entries':
      n = Math.max(...pos.entries.map(([prefix, seq]) => entryPosition(engine, prefix, seq)));
      break;
    case 'time': {
      if (pos.ms > engine.env.now()) throw new EngineError('BAD_ARGUMENT', `${pos.text} is in the future`);
      const first = engine.projections.positions.row(1);
      if (first === undefined || hlcWallMs(first.hlc) > pos.ms) {
        throw new EngineError('BAD_ARGUMENT', `${pos.text} is before the log begins${first ? ` (${new Date(hlcWallMs(first.hlc)).toISOString()})` : ''}`);
      }
      n = engine.projections.positions.atTime(pos.ms);
      break;
    }
    case 'tag': {
      const target = (await readTags(engine.store.layout.root))[pos.name];
      if (target === undefined) throw new EngineError('BAD_ARGUMENT', `no tag or position named ${pos.name}`);
      n = target.feed === '' ? 0 : entryPosition(engine, target.feed, target.seq);
      break;
    }
    default: {
      const never: never = pos;
      throw new EngineError('BAD_ARGUMENT', `unknown position ${JSON.stringify(never)}`);
    }
  }
  const row = n > 0 ? engine.projections.positions.row(n) : undefined;
  return { n, time: row ? hlcWallMs(row.hlc) : null, text: text ?? 'head' };
}
