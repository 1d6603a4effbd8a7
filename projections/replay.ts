/**
 * Feeding entries from the log into projections: catching up a feed's tail, and rebuilding
 * every projection from scratch. Entries of several feeds are merged in one order for
 * everyone: (hybrid logical time, feed name, sequence number).
 */
import { decodeRecord, feedName, type Entry, type Feed, type FeedSet } from '../log/index.js';
import type { ProjectionSet } from './projection-set.js';
import { ProjectionError } from './projection-error.js';

const BATCH = 2048;
/**
 * A batch (one LMDB transaction, one write-back overlay) also ends once it holds this many
 * events: the overlay and LMDB's dirty pages live in memory until the commit, so a batch
 * bounded only by entries would grow with the tree when entries are large (an import
 * makes entries of thousands of events). A single entry is never split.
 */
const BATCH_EVENTS = 4_096;

export interface ReplayProgress {
  readonly done: number;
  readonly total: number;
}

/** True when the projections hold an entry the log does not (a crash before an fsync). */
export async function projectionsAhead(set: ProjectionSet, feeds: FeedSet): Promise<string | null> {
  for (const [name, pos] of set.checkpoint.all()) {
    const feed = feeds.get(name);
    if (feed === undefined) return `feed ${name} is applied but not held`;
    if (pos.length > feed.length) return `feed ${name}: ${pos.length} entries applied, ${feed.length} in the log`;
    const last = await feed.get(pos.length - 1);
    if (Buffer.compare(Buffer.from(last.hash), Buffer.from(pos.hash)) !== 0) return `feed ${name}: entry ${pos.length - 1} differs from the one applied`;
  }
  return null;
}

/** Bytes of records a cursor reads at a time (about 4,000 events of an import's entries). */
const READ_BYTES = 512 * 1024;

/**
 * Reads one feed ahead of the merge, a chunk of records at a time, the next chunk already on
 * its way while this one is applied. Records are decoded one by one as the merge reaches
 * them, not a chunk at once: a decoded entry's events then live only while it is applied,
 * instead of surviving a whole batch in the young generation (copied by every scavenge and
 * promoted). Chunks hold about READ_BYTES (the number of records read adapts to their
 * size), so what is held in memory does not grow with the log.
 */
class Cursor {
  #records: Buffer[] = [];
  #at = 0;
  /** The record at #at, decoded (null until the merge looks at it). */
  #head: Entry | null = null;
  #next: number;
  #chunk = 16;
  #ahead: Promise<Buffer[]> | null = null;
  /** Every record of the feed was taken. */
  ended = false;
  constructor(readonly feed: Feed, from: number) {
    this.#next = from;
  }
  #read(): Promise<Buffer[]> | null {
    if (this.#next >= this.feed.length) return null;
    const to = Math.min(this.feed.length, this.#next + this.#chunk);
    const p = this.feed.readRecords(this.#next, to);
    this.#next = to;
    // Handled when awaited; a rejection must not go unhandled meanwhile.
    p.catch(() => undefined);
    return p;
  }
  /** The next entry when its record is already read (most calls: no promise, no turn of the event loop); null when it must be awaited. */
  peekNow(): Entry | null {
    if (this.#head !== null) return this.#head;
    if (this.#at === this.#records.length) return null;
    this.#head = decodeRecord(this.#records[this.#at]!);
    return this.#head;
  }
  async peek(): Promise<Entry | undefined> {
    if (this.#at === this.#records.length) {
      const p = this.#ahead ?? this.#read();
      this.#ahead = null;
      if (p === null) {
        this.ended = true;
        return undefined;
      }
      this.#records = await p;
      this.#at = 0;
      let bytes = 0;
      for (const r of this.#records) bytes += r.byteLength;
      this.#chunk = Math.max(1, Math.min(BATCH, Math.floor((READ_BYTES * this.#records.length) / Math.max(1, bytes))));
      this.#ahead = this.#read();
    }
    return this.peekNow() ?? undefined;
  }
  take(): Entry {
    const e = this.peekNow()!;
    this.#records[this.#at++] = undefined as never;
    this.#head = null;
    return e;
  }
}

function before(a: Entry, b: Entry): boolean {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc;
  const fa = feedName(a);
  const fb = feedName(b);
  if (fa !== fb) return fa < fb;
  return a.seq < b.seq;
}

/**
 * The next entries in the one order, decoded as they are applied, for one batch: it ends at
 * BATCH entries or BATCH_EVENTS events, or where a feed's next record is not read yet (the
 * caller reads it between batches; a transaction cannot wait for it).
 */
function* merged(cursors: readonly Cursor[]): Generator<Entry> {
  let entries = 0;
  let events = 0;
  while (entries < BATCH && events < BATCH_EVENTS) {
    let best: Cursor | undefined;
    let bestEntry: Entry | undefined;
    for (const c of cursors) {
      if (c.ended) continue;
      const e = c.peekNow();
      if (e === null) return;
      if (bestEntry === undefined || before(e, bestEntry)) {
        best = c;
        bestEntry = e;
      }
    }
    if (best === undefined) return;
    best.take();
    entries++;
    events += bestEntry!.events.length;
    yield bestEntry!;
  }
}

/**
 * Applies every entry the projections do not hold yet, merged across feeds. Returns how many.
 * Each batch is applied while it is merged and decoded: an entry's events live only while it
 * is applied, not while a whole batch is (fewer young objects surviving each scavenge).
 */
export async function catchUp(set: ProjectionSet, feeds: FeedSet, onProgress?: (p: ReplayProgress) => void): Promise<number> {
  const cursors: Cursor[] = [];
  let total = 0;
  for (const feed of feeds.list()) {
    const from = set.position(feed.name)?.length ?? 0;
    if (from < feed.length) {
      cursors.push(new Cursor(feed, from));
      total += feed.length - from;
    }
  }
  let done = 0;
  for (;;) {
    // Every feed's next record read (the only waits: between batches).
    let live = 0;
    for (const c of cursors) if (!c.ended && (c.peekNow() !== null || (await c.peek()) !== undefined)) live++;
    if (live === 0) break;
    done += set.applyEntries(merged(cursors));
    onProgress?.({ done, total });
  }
  onProgress?.({ done, total });
  return done;
}

function keyBefore(a: { hlc: number; feed: string; seq: number }, b: { hlc: number; feed: string; seq: number }): boolean {
  if (a.hlc !== b.hlc) return a.hlc < b.hlc;
  if (a.feed !== b.feed) return a.feed < b.feed;
  return a.seq < b.seq;
}

/**
 * Applies every entry the feeds hold that the projections do not, in the one order for
 * everyone. Entries that sort after everything applied are simply appended (in batches);
 * when one sorts before applied entries (it arrived late), the projections are rewound to
 * just before its place and the tail is applied again, in one transaction, so readers never
 * see a half-rewound tree. Returns how many entries were applied (re-applied ones included).
 */
export async function integrate(set: ProjectionSet, feeds: FeedSet, onProgress?: (p: ReplayProgress) => void): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const r = await integrateOnce(set, feeds, onProgress);
    if (r !== STALE) return r;
    // The projections moved on while the tail was read (an entry staged and applied meanwhile,
    // or one applied but not yet readable from its feed): read again rather than rewind past it.
    if (attempt >= 100) throw new ProjectionError('BEHIND', 'the projections kept moving while a late entry was being integrated');
    await new Promise((r) => setTimeout(r, Math.min(50, 1 + attempt)));
  }
}

const STALE = -1;

async function integrateOnce(set: ProjectionSet, feeds: FeedSet, onProgress?: (p: ReplayProgress) => void): Promise<number> {
  // Each feed's first unapplied entry is its earliest (timestamps rise along a feed).
  let first: { hlc: number; feed: string; seq: number } | null = null;
  for (const feed of feeds.list()) {
    const from = set.position(feed.name)?.length ?? 0;
    if (from >= feed.length) continue;
    const e = await feed.get(from);
    const key = { hlc: e.hlc, feed: feed.name, seq: e.seq };
    if (first === null || keyBefore(key, first)) first = key;
  }
  if (first === null) return 0;
  const head = set.positions.applied;
  let n0 = head;
  while (n0 > 0) {
    const row = set.positions.row(n0)!;
    if (keyBefore({ hlc: row.hlc, feed: row.feed, seq: row.seq }, first)) break;
    n0--;
  }
  if (n0 === head) return catchUp(set, feeds, onProgress);
  // The projections were rebuilt without undo records that far back: rebuild them again.
  if (!set.canRewindTo(n0)) return rebuild(set, feeds, onProgress);
  // Late arrival: gather the applied tail after n0 and everything unapplied, sorted, then
  // rewind and re-apply it all in one transaction.
  const from = new Map<string, number>();
  for (const feed of feeds.list()) from.set(feed.name, set.position(feed.name)?.length ?? 0);
  for (let n = head; n > n0; n--) {
    const row = set.positions.row(n)!;
    from.set(row.feed, Math.min(row.seq, from.get(row.feed) ?? row.seq));
  }
  const tail: Entry[] = [];
  for (const feed of feeds.list()) {
    const start = from.get(feed.name) ?? 0;
    if (start < feed.length) tail.push(...(await feed.read(start, feed.length)));
  }
  // No await from here on: check that the tail holds every entry the projections applied after n0.
  if (set.positions.applied !== head) return STALE;
  const read = new Map<string, number>();
  for (const e of tail) read.set(feedName(e), Math.max(read.get(feedName(e)) ?? 0, e.seq + 1));
  for (const [feed, pos] of set.checkpoint.all()) if (from.has(feed) && pos.length > (read.get(feed) ?? from.get(feed)!)) return STALE;
  tail.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
  const applied = set.applyEntries(tail, { rewindTo: n0 });
  onProgress?.({ done: applied, total: tail.length });
  return applied;
}

export interface RebuildOptions {
  /**
   * false: keep no undo records (a scratch rebuild that nothing will rewind, e.g. `realize
   * log replay --check`); a later rewind into the rebuilt part becomes a rebuild. Default true.
   */
  readonly undo?: boolean;
}

/** Drops every projection row and applies the whole log again. */
export async function rebuild(set: ProjectionSet, feeds: FeedSet, onProgress?: (p: ReplayProgress) => void, opts: RebuildOptions = {}): Promise<number> {
  set.clear();
  if (opts.undo !== false) return catchUp(set, feeds, onProgress);
  set.pauseUndo();
  // A scratch place: its rows written by a thread of their own while this one applies.
  const shipping = set.shipWrites();
  let ok = false;
  try {
    const n = await catchUp(set, feeds, onProgress);
    ok = true;
    return n;
  } finally {
    try {
      if (shipping) await set.endShipping(ok);
    } finally {
      set.resumeUndo();
    }
  }
}
