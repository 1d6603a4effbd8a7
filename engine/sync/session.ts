/**
 * One sync session over an authenticated channel. Both sides run the same protocol
 * (spec/wire-format.md, "The sync protocol"):
 *
 *   1. each sends `have`: the areas it follows, and the length of every feed it holds of
 *      those areas and of the household (area '');
 *   2. each then sends, per feed both should hold, the entries the other lacks, in batches
 *      (household feeds first, so members are known before their areas' entries arrive), and
 *      keeps sending new entries as they are appended (Feed.live) while the session lasts;
 *   3. the receiver checks the author is a household member, appends each batch through
 *      appendVerified (signature, chain, sequence) and applies it, acknowledges what it now
 *      holds, and asks for the content blocks the new entries name that it lacks; blocks come
 *      back by hash and are hashed again on arrival.
 *
 * Nothing here waits on the network in the receive loop (sends it triggers are posted), so
 * two peers that both send a lot cannot deadlock; bulk senders (entry pumps, the block
 * server) await the channel, which waits while the socket's buffer is full.
 * A dialing `sync` (not live) ends the session once it holds what the other side had at the
 * start, holds every block those entries name, and the other side acknowledged everything it
 * had itself at the start.
 */
import { BLOCK_SIZE, decodeRecord, LogError, parseFeedName, toHex, type Entry, type Feed } from '../../log/index.js';
import { RECORD_HEADER_BYTES, recordCrcOf } from '../block-pack.js';
import { openedBlocks, type FrameLease, type OpenedBlocks } from '../block-hasher.js';
import { blockBuffers } from '../block-store.js';
import type { Engine } from '../engine.js';
import type { Acks } from './acks.js';
import { applyReceived } from './apply-received.js';
import { missingBlocks, scanMissing } from './block-needs.js';
import type { Household } from './household.js';
import { decodeMessage, encodeMessage, type Message } from './messages.js';
import { MAX_MESSAGE_BYTES, type SecureChannel } from './secure-channel.js';
import { receivedFrames } from './frame-pool.js';
import { SyncError } from './sync-error.js';
import type { SyncState } from './sync-state.js';

/** Entries per `entries` message, at most, and its size target. */
const BATCH_ENTRIES = 512;
const BATCH_BYTES = 1024 * 1024;
/** Blocks asked for and not yet received, per session. */
const BLOCK_WINDOW = 256;
/** Hashes a peer may have asked for and not yet been served. */
const MAX_SERVE_QUEUE = 65_536;
/** How often a live session looks for new feeds to send. */
const FEED_POLL_MS = 200;
/** How long a live session waits before asking again for blocks a peer did not have. */
const RETRY_BLOCKS_MS = 2000;
/** A request for at most this many blocks is a read waiting on the other side: it is served first. */
const PRIORITY_REQUEST = 2;
/** Received blocks at least this large are stored through the block store's buffer pool. */
const POOLED_BLOCK = 32 * 1024;
/** Blocks per `blocks` message (2 MiB of 128 KiB blocks). */
const SERVE_BATCH = 16;
/** Batch buffers a session keeps for serving (one batch is sent while the next is read). */
const SERVE_BUFFERS = 3;

/** Blocks being served: the hashes asked for, the buffer their records are read into, the read. */
interface ServeBatch {
  readonly take: Buffer[];
  readonly into: Buffer;
  /** Each block read (null: not here) and its record's CRC (sent to a peer that takes them: BLOCKS_CRC). */
  readonly read: Promise<Array<{ readonly data: Buffer; readonly crc: number } | null>>;
}
/** `blocks` messages the receive loop may leave hashing while it takes the next ones. */
const RECEIVE_AHEAD = 4;
/** Writes of received blocks (a block store flush each: a message's, or 8 MiB) that may run behind the receive loop. */
const WRITES_BEHIND = 12;

/** Blocks hashed where their message was opened (openedBlocks), with the message they lie in. */
interface Hashed extends OpenedBlocks {
  readonly message: Buffer;
}

/**
 * The hashes of `hashed` for the blocks at `spans` (their [offset, length] in the message's
 * buffer), when they are those blocks, in order; else undefined (they are hashed again).
 */
function hashesAt(hashed: Hashed | undefined, spans: ReadonlyArray<readonly [number, number]>): Buffer[] | undefined {
  if (hashed === undefined || hashed.spans.length !== 2 * spans.length) return undefined;
  const base = hashed.message.byteOffset;
  const out: Buffer[] = [];
  for (let i = 0; i < spans.length; i++) {
    if (hashed.spans[2 * i]! + base !== spans[i]![0] || hashed.spans[2 * i + 1] !== spans[i]![1]) return undefined;
    out.push(hashed.hashes.subarray(32 * i, 32 * i + 32));
  }
  return out;
}

/** A received message's pooled buffer, back to its pool once its blocks were stored and read. */
const giveBack = (buffer: ArrayBufferLike): void => receivedFrames.give(buffer);

export interface SessionHost {
  readonly engine: Engine;
  readonly acks: Acks;
  readonly state: SyncState;
  /** The membership now. */
  household(): Household;
  /** Folds the household feeds again if they grew; tells the other sessions. */
  refreshHousehold(): Promise<Household>;
  /** The areas this peer follows now. */
  follows(): ReadonlySet<string>;
  log(line: string): void;
}

export interface SessionStats {
  entriesIn: number;
  entriesOut: number;
  blocksIn: number;
  blocksOut: number;
  blockBytesIn: number;
  blockBytesOut: number;
  /** Entries refused (authors not members, areas not followed, bad entries). */
  refused: number;
  /** Blocks the peer did not have when asked. */
  blocksUnavailable: number;
  /** Bytes on the wire, both ways (handshake, frame headers and tags included). */
  wireBytesIn: number;
  wireBytesOut: number;
  /** Blocks received with their records' CRCs (BLOCKS_CRC), of blocksIn. */
  blocksInWithCrc: number;
  /** Of those, blocks hashed by the worker that opened their frame (openedBlocks), not posted back to it. */
  blocksInHashedOpened: number;
}

interface Pump {
  readonly feed: Feed;
  resetTo: number | null;
  wake: (() => void) | null;
}

export class Session {
  readonly channel: SecureChannel;
  readonly peer: string;
  readonly live: boolean;
  readonly stats: SessionStats = { entriesIn: 0, entriesOut: 0, blocksIn: 0, blocksOut: 0, blockBytesIn: 0, blockBytesOut: 0, refused: 0, blocksUnavailable: 0, wireBytesIn: 0, wireBytesOut: 0, blocksInWithCrc: 0, blocksInHashedOpened: 0 };
  readonly #host: SessionHost;
  readonly #engine: Engine;
  readonly #self: string;
  #peerFollows: Set<string> | null = null;
  /** The peer's have said it takes blocks with their records' CRCs (BLOCKS_CRC). */
  #peerTakesCrcs = false;
  #shared = new Set<string>();
  readonly #pumps = new Map<string, Pump>();
  /** What the peer held at the start, of feeds this side receives. */
  readonly #targets = new Map<string, number>();
  #sentCaughtUp = false;
  #peerCaughtUp = false;
  /** feed -> the length this side asked the peer to resend from (later batches are dropped meanwhile). */
  readonly #stalled = new Map<string, number>();
  /** Feeds whose entries are refused for good this session (removed authors). */
  readonly #refusedFeeds = new Set<string>();
  /** Blocks to ask for, in order, from #wantHead on (taken by index: shift() is linear in V8's large arrays). */
  #wantQueue: Buffer[] = [];
  #wantHead = 0;
  /**
   * feed -> the length up to which this session has asked for every block it lacks. Entries
   * past it were appended by someone else (a session cut short, another peer) whose wants may
   * have died with it: they are scanned before this side calls itself caught up.
   */
  readonly #covered = new Map<string, number>();
  readonly #wanted = new Set<string>();
  readonly #inflight = new Set<string>();
  /** Of those, blocks that arrived and are being checked and stored (they leave the window). */
  #storing = 0;
  /** `blocks` messages being hashed and stored while the receive loop takes the next ones, oldest first. */
  readonly #receiving: Promise<void>[] = [];
  /** Writes of received blocks started and not yet awaited (the blocks were readable before them), oldest first. */
  readonly #writing: Promise<void>[] = [];
  readonly #unavailable: Buffer[] = [];
  /** Blocks asked for by request() (on-demand reads, realizing): who waits for each. */
  readonly #waiters = new Map<string, Array<(data: Buffer | null) => void>>();
  /** Of those, the ones sync itself did not want (no retry when the peer lacks them). */
  readonly #demanded = new Set<string>();
  readonly #serveQueue: Buffer[] = [];
  /** Small requests (a read waiting on the other side) are served before bulk ones. */
  readonly #servePriority: Buffer[] = [];
  #serveWake: (() => void) | null = null;
  /** Buffers for batches of served blocks, reused (see #serveBuffer). */
  readonly #serveBuffers: Buffer[] = [];
  /** What the peer said it holds, this session (pumps start there; a want-from may go lower). */
  readonly #peerHas = new Map<string, number>();
  readonly #ackDirty = new Set<string>();
  #ackScheduled = false;
  #closing = false;
  #closeReason: string | null = null;
  readonly #timers: NodeJS.Timeout[] = [];
  #householdSent!: Promise<void>;
  #doneResolve!: () => void;
  readonly #done = new Promise<void>((r) => (this.#doneResolve = r));

  /** This side takes blocks with their records' CRCs (its have says so). */
  readonly #takesCrcs: boolean;

  constructor(host: SessionHost, channel: SecureChannel, opts: { live: boolean; blockCrcs?: boolean }) {
    this.#takesCrcs = opts.blockCrcs ?? true;
    this.#host = host;
    this.#engine = host.engine;
    this.#self = host.engine.store.publicKey;
    this.channel = channel;
    this.peer = channel.peerKey;
    this.live = opts.live;
    // The blocks of the messages #store hands to stageIn whole are hashed where their frame is
    // opened (only a BLOCKS_CRC is: the CRCs of other blocks are computed with their hashes).
    if (this.#takesCrcs) channel.hashBlocks({ minCount: PRIORITY_REQUEST + 1, minBytes: POOLED_BLOCK, maxBytes: BLOCK_SIZE });
  }

  get label(): string {
    const m = this.#host.household().get(this.peer);
    return `${m?.name ?? 'peer'} (${this.peer.slice(0, 12)}…)`;
  }

  /** Why the session ended (null while it runs, or when it ended cleanly). */
  get closeReason(): string | null {
    return this.#closeReason;
  }

  /** Runs the session until it ends; resolves with its figures. Never throws: failures are logged. */
  async run(): Promise<SessionStats> {
    try {
      await this.#send(this.#haveMessage());
      for (;;) {
        const raw = await this.channel.receive();
        if (raw === null) break;
        const hashed = openedBlocks.take(raw);
        const m = decodeMessage(raw);
        if (m.type === 'blocks') {
          const p = this.#onBlocks(m.blocks, this.#takesCrcs ? m.crcs : undefined, hashed === null ? undefined : { message: raw, ...hashed });
          p.catch(() => undefined); // thrown where it is awaited, below
          this.#receiving.push(p);
        } else {
          await this.#handle(m);
        }
        // Received blocks are hashed in a worker (stageIn): while more messages wait, take
        // them, so that a few frames hash at once rather than one round trip at a time;
        // else wait for those first, so that what follows sees them stored.
        while (this.#receiving.length > 0 && (this.channel.queued === 0 || this.#receiving.length > RECEIVE_AHEAD)) await this.#receiving.shift();
        if (this.#receiving.length > 0) continue;
        if (this.#closing) break;
        if (!this.#sentCaughtUp && this.#receiveComplete()) await this.#coverGaps();
        this.#checkCaughtUp();
        if (!this.live && this.#complete()) {
          await this.#bye('done', 'in sync');
          break;
        }
      }
      if (!this.live && !this.#closing && !this.#complete()) {
        this.#closeReason = 'the peer closed the connection before the sync was complete';
        this.#host.log(`sync with ${this.label}: ${this.#closeReason}`);
      }
    } catch (err) {
      this.#closeReason = (err as Error).message;
      if (!this.#closing) this.#host.log(`connection with ${this.label} closed: ${(err as Error).message}`);
      if (err instanceof SyncError || err instanceof LogError) {
        if (this.channel.isOpen && err instanceof LogError) await this.#bye('refused', err.message).catch(() => undefined);
      }
    } finally {
      this.#closing = true;
      for (const p of this.#receiving.splice(0)) await p.catch(() => undefined);
      for (const t of this.#timers) clearInterval(t);
      for (const p of this.#pumps.values()) p.wake?.();
      this.#serveWake?.();
      this.#engine.placement?.removeSource(this);
      for (const k of [...this.#waiters.keys()]) this.#settleWaiters(k, null);
      await this.channel.close().catch(() => undefined);
      for (const w of this.#writing.splice(0)) await w.catch(() => undefined); // #settleBlocks syncs: a failed write fails it again
      this.stats.wireBytesIn = this.channel.stats.bytesIn;
      this.stats.wireBytesOut = this.channel.stats.bytesOut;
      await this.#settleBlocks().catch(() => undefined);
      await this.#host.state.save().catch(() => undefined);
      this.#doneResolve();
    }
    return this.stats;
  }

  /** Ends the session (e.g. the peer was removed from the household). */
  async stop(code: string, message: string): Promise<void> {
    if (this.#closing) return;
    this.#closeReason = message;
    await this.#bye(code, message).catch(() => undefined);
    this.channel.destroy();
    await this.#done;
  }

  get done(): Promise<void> {
    return this.#done;
  }

  // ---------------------------------------------------------------- what to send

  #relevantToMe(area: string): boolean {
    return area === '' || this.#host.follows().has(area);
  }

  #relevantToBoth(area: string): boolean {
    return area === '' || this.#shared.has(area);
  }

  #haveMessage(): Message {
    const feeds = this.#engine.store.feeds.list().filter((f) => this.#relevantToMe(f.id.area));
    return { type: 'have', follows: [...this.#host.follows()].sort(), feeds: feeds.map((f) => [f.name, f.length] as const), ...(this.#takesCrcs ? { crcs: true } : {}) };
  }

  async #send(m: Message): Promise<void> {
    await this.channel.send(encodeMessage(m));
  }

  /** Sends without waiting for the socket (small control messages from the receive loop). */
  #post(m: Message): void {
    this.#send(m).catch(() => undefined);
  }

  async #bye(code: string, message: string): Promise<void> {
    this.#closing = true;
    if (this.channel.isOpen) await this.#send({ type: 'bye', code, message });
  }

  // ---------------------------------------------------------------- receiving

  async #handle(m: Message): Promise<void> {
    switch (m.type) {
      case 'have':
        this.#peerTakesCrcs = m.crcs === true;
        return this.#onHave(m.follows, m.feeds);
      case 'entries':
        return this.#onEntries(m.feed, m.first, m.records);
      case 'ack':
        for (const [feed, n] of m.feeds) this.#onAck(feed, n);
        return;
      case 'want-from': {
        const p = this.#pumps.get(m.feed);
        if (p !== undefined) {
          p.resetTo = m.from;
          p.wake?.();
        }
        return;
      }
      case 'want-blocks':
        if (this.#serveQueue.length + this.#servePriority.length + m.hashes.length > MAX_SERVE_QUEUE) throw new SyncError('PROTOCOL', `the peer asked for more than ${MAX_SERVE_QUEUE} blocks at once`);
        (m.hashes.length <= PRIORITY_REQUEST ? this.#servePriority : this.#serveQueue).push(...m.hashes.map((h) => Buffer.from(h)));
        this.#serveWake?.();
        return;
      case 'blocks':
        return this.#onBlocks(m.blocks, this.#takesCrcs ? m.crcs : undefined);
      case 'no-blocks':
        for (const h of m.hashes) {
          const k = h.toString('hex');
          if (this.#inflight.has(k)) this.#notThere(k, Buffer.from(h));
        }
        this.#fillWindow();
        return;
      case 'caught-up':
        this.#peerCaughtUp = true;
        return;
      case 'bye':
        this.#closing = true;
        if (m.code !== 'done') {
          this.#closeReason = `${m.code}: ${m.message}`;
          this.#host.log(`${this.label} closed the connection: ${m.code}: ${m.message}`);
        }
        return;
    }
  }

  async #onHave(follows: readonly string[], feeds: ReadonlyArray<readonly [string, number]>): Promise<void> {
    if (this.#peerFollows !== null) throw new SyncError('PROTOCOL', 'a second have');
    this.#peerFollows = new Set(follows);
    const mine = this.#host.follows();
    this.#shared = new Set(follows.filter((a) => mine.has(a)));
    const acks = this.#host.acks;
    acks.setFollows(this.peer, follows);
    const seen: Record<string, number> = {};
    for (const [feed, n] of feeds) {
      acks.record(this.peer, feed, n);
      this.#peerHas.set(feed, n);
      seen[feed] = n;
      const { area } = parseFeedName(feed);
      if (this.#relevantToBoth(area) && feed.slice(0, 64) !== this.#self) this.#targets.set(feed, n);
    }
    this.#host.state.data.seen[this.peer] = { at: Date.now(), feeds: seen };
    this.#host.state.touch();

    // Send: household feeds first, then the shared areas' feeds once the household is out.
    const own = this.#engine.store.feeds.list().filter((f) => this.#relevantToBoth(f.id.area) && f.name.slice(0, 64) !== this.peer);
    const household = own.filter((f) => f.id.area === '');
    const initial: Promise<void>[] = household.map((f) => new Promise<void>((resolve) => this.#startPump(f, resolve)));
    this.#householdSent = Promise.all(initial).then(() => undefined);
    void this.#householdSent.then(() => {
      for (const f of own) if (f.id.area !== '') this.#startPump(f);
    });
    if (this.live) {
      const t = setInterval(() => this.#pollFeeds(), FEED_POLL_MS);
      t.unref();
      this.#timers.push(t);
      const r = setInterval(() => this.#retryUnavailable(), RETRY_BLOCKS_MS);
      r.unref();
      this.#timers.push(r);
    }
    void this.#serveBlocks();
    // This peer's blocks are now there for reads of Unreal content (engine/placement).
    this.#engine.placement?.addSource(this, this.#host);
    // Blocks named by entries held but never fetched (a sync cut short, a peer that lacked them).
    for (const f of this.#engine.store.feeds.list()) {
      if (!this.#relevantToBoth(f.id.area) || f.name.slice(0, 64) === this.#self) continue;
      const done = this.#host.state.data.blocksDone[f.name] ?? 0;
      if (done >= f.length) {
        this.#cover(f.name, 0, f.length);
        continue;
      }
      const length = f.length;
      const { missing } = await scanMissing(f, done, this.#engine.blocks, this.#wants);
      this.#want(missing);
      this.#cover(f.name, 0, length);
    }
  }

  #pollFeeds(): void {
    if (this.#closing || this.#peerFollows === null) return;
    for (const f of this.#engine.store.feeds.list()) {
      if (this.#pumps.has(f.name) || !this.#relevantToBoth(f.id.area) || f.name.slice(0, 64) === this.peer) continue;
      if (f.id.area === '') this.#startPump(f);
      else void this.#householdSent.then(() => this.#startPump(f));
    }
  }

  #onAck(feed: string, n: number): void {
    this.#host.acks.record(this.peer, feed, n);
    if (n > (this.#peerHas.get(feed) ?? 0)) {
      this.#peerHas.set(feed, n);
      this.#pumps.get(feed)?.wake?.();
    }
  }

  #scheduleAck(feed: string): void {
    this.#ackDirty.add(feed);
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => this.#flushAcks());
  }

  #flushAcks(): void {
    this.#ackScheduled = false;
    const feeds = [...this.#ackDirty].map((f) => [f, this.#engine.store.feeds.get(f)?.length ?? 0] as const);
    this.#ackDirty.clear();
    if (this.channel.isOpen && feeds.length > 0) this.#post({ type: 'ack', feeds });
  }

  #refuse(feed: string, n: number, why: string): void {
    this.stats.refused += n;
    this.#host.log(`refused ${n} entr${n === 1 ? 'y' : 'ies'} of feed ${feed.slice(0, 12)}…${feed.slice(64)} from ${this.label}: ${why}`);
  }

  async #onEntries(feed: string, first: number, records: readonly Buffer[]): Promise<void> {
    const id = parseFeedName(feed);
    const author = toHex(id.author);
    if (author === this.#self) return; // this peer's own feed: it holds all of it
    if (!this.#relevantToMe(id.area) || !this.#relevantToBoth(id.area)) {
      this.#refuse(feed, records.length, `area ${id.area} is not followed by both peers`);
      return;
    }
    const household = this.#host.household();
    if (household.wasRemoved(author)) {
      if (!this.#refusedFeeds.has(feed)) this.#refuse(feed, records.length, 'its author was removed from the household');
      this.#refusedFeeds.add(feed);
      return;
    }
    const have = this.#engine.store.feeds.get(feed)?.length ?? 0;
    if (!household.isMember(author)) {
      // Perhaps the peer-add is still on its way: ask again once the household grows.
      if (!this.#stalled.has(feed)) this.#refuse(feed, records.length, `its author ${author.slice(0, 12)}… is not a household member (yet)`);
      this.#stalled.set(feed, have);
      return;
    }
    const stalledAt = this.#stalled.get(feed);
    if (stalledAt !== undefined) {
      if (first > have) return; // sent before our want-from arrived: dropped, it comes again
      this.#stalled.delete(feed);
    }
    if (first > have) {
      this.#stalled.set(feed, have);
      this.#post({ type: 'want-from', feed, from: have });
      return;
    }
    let entries: Entry[];
    try {
      entries = records.map((r) => decodeRecord(r));
    } catch (err) {
      this.#refuse(feed, records.length, (err as Error).message);
      throw err;
    }
    if (first + records.length <= have) {
      // Held already, perhaps appended by another session (one cut short, another peer) that
      // ended before their blocks came: this session asks for them, or it would call itself
      // caught up while content is missing.
      this.#scheduleAck(feed);
      this.#want(missingBlocks(entries, this.#engine.blocks, this.#wants));
      this.#cover(feed, first, first + entries.length);
      return;
    }
    let fresh: number;
    try {
      fresh = await applyReceived(this.#engine, id, entries);
    } catch (err) {
      if (err instanceof LogError && (err.code === 'GAP' || err.code === 'BAD_SEQUENCE')) {
        const now = this.#engine.store.feeds.get(feed)?.length ?? 0;
        this.#stalled.set(feed, now);
        this.#post({ type: 'want-from', feed, from: now });
        return;
      }
      this.#refuse(feed, records.length, `${(err as Error).message}; nothing of the batch was applied`);
      throw err;
    }
    this.stats.entriesIn += fresh;
    this.#scheduleAck(feed);
    this.#want(missingBlocks(entries, this.#engine.blocks, this.#wants));
    this.#cover(feed, first, first + entries.length);
    if (id.area === '') await this.#householdChanged();
  }

  async #householdChanged(): Promise<void> {
    const h = await this.#host.refreshHousehold();
    for (const [feed, at] of this.#stalled) {
      if (h.isMember(feed.slice(0, 64))) this.#post({ type: 'want-from', feed, from: at });
    }
  }

  // ---------------------------------------------------------------- entry pumps

  #startPump(feed: Feed, initialDone?: () => void): void {
    if (this.#pumps.has(feed.name) || this.#closing) {
      initialDone?.();
      return;
    }
    const pump: Pump = { feed, resetTo: null, wake: null };
    this.#pumps.set(feed.name, pump);
    this.#runPump(pump, initialDone).catch((err: unknown) => {
      initialDone?.();
      if (!this.#closing) {
        this.#host.log(`sending feed ${feed.name.slice(0, 12)}… to ${this.label} failed: ${(err as Error).message}`);
        this.channel.destroy();
      }
    });
  }

  async #runPump(pump: Pump, initialDone?: () => void): Promise<void> {
    const { feed } = pump;
    let next = this.#peerHas.get(feed.name) ?? 0;
    while (!this.#closing) {
      if (pump.resetTo !== null) {
        next = pump.resetTo;
        this.#peerHas.set(feed.name, Math.min(this.#peerHas.get(feed.name) ?? 0, pump.resetTo));
        pump.resetTo = null;
      }
      next = Math.max(next, this.#peerHas.get(feed.name) ?? 0);
      const length = feed.length;
      if (next < length) {
        const records = await feed.readRecords(next, Math.min(length, next + BATCH_ENTRIES));
        let bytes = 0;
        let n = 0;
        while (n < records.length && (n === 0 || bytes + records[n]!.byteLength + 4 <= BATCH_BYTES)) {
          bytes += records[n]!.byteLength + 4;
          n++;
        }
        if (bytes + 128 > MAX_MESSAGE_BYTES) throw new SyncError('FRAME_TOO_LARGE', `entry ${next} of feed ${feed.name} is ${bytes} bytes: more than a frame carries`);
        if (this.#closing) break;
        await this.#send({ type: 'entries', feed: feed.name, first: next, records: records.slice(0, n) });
        this.stats.entriesOut += n;
        next += n;
        continue;
      }
      initialDone?.();
      initialDone = undefined;
      await this.#waitForGrowth(pump, next);
    }
    initialDone?.();
  }

  async #waitForGrowth(pump: Pump, next: number): Promise<void> {
    const ac = new AbortController();
    const woken = new Promise<void>((resolve) => (pump.wake = resolve));
    const grown = (async () => {
      const it = pump.feed.live(next, ac.signal);
      try {
        await it.next();
      } finally {
        await it.return(undefined);
      }
    })();
    try {
      await Promise.race([woken, grown, this.#done]);
    } finally {
      pump.wake = null;
      ac.abort();
      await grown.catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- blocks

  /** Sync fetches the blocks of the files this peer keeps Real; Unreal ones are fetched when read. */
  readonly #wants = (id: string): boolean => this.#engine.placement?.wants(id) ?? true;

  /**
   * Asks the peer for blocks now, ahead of sync's own queue (a read waits for them). `onBlock`
   * hears of each as it comes; resolves with those that came (hex -> content, checked against
   * the hash and stored) once the peer answered for all (it lacked the others) or the session
   * ended.
   */
  request(hashes: readonly Buffer[], onBlock?: (key: string, data: Buffer) => void): Promise<Map<string, Buffer>> {
    const got = new Map<string, Buffer>();
    if (this.#closing || !this.channel.isOpen) return Promise.resolve(got);
    const ask: Buffer[] = [];
    const waits: Promise<void>[] = [];
    for (const h of hashes) {
      const k = h.toString('hex');
      waits.push(
        new Promise<void>((resolve) => {
          const list = this.#waiters.get(k) ?? [];
          list.push((data) => {
            if (data !== null) {
              got.set(k, data);
              onBlock?.(k, data);
            }
            resolve();
          });
          this.#waiters.set(k, list);
        }),
      );
      if (this.#inflight.has(k)) continue; // already asked for: the answer serves both
      this.#inflight.add(k);
      this.#demanded.add(k);
      ask.push(h);
    }
    if (ask.length > 0) this.#post({ type: 'want-blocks', hashes: ask });
    return Promise.all(waits).then(() => got);
  }

  /** A block asked for that the peer does not have (NO_BLOCKS, or damaged on its disk): who waits hears so; sync asks again later. */
  #notThere(k: string, hash: Buffer): void {
    this.#inflight.delete(k);
    this.#settleWaiters(k, null);
    this.stats.blocksUnavailable++;
    if (this.#demanded.delete(k) && !this.#wanted.has(k)) return;
    this.#wanted.delete(k);
    this.#unavailable.push(hash);
  }

  #settleWaiters(k: string, data: Buffer | null): void {
    const list = this.#waiters.get(k);
    if (list === undefined) return;
    this.#waiters.delete(k);
    for (const w of list) w(data);
  }

  #want(hashes: readonly Buffer[]): void {
    for (const h of hashes) {
      const k = h.toString('hex');
      if (this.#wanted.has(k)) continue;
      this.#wanted.add(k);
      this.#wantQueue.push(h);
    }
    this.#fillWindow();
  }

  /** This session asked for the missing blocks of entries [from, to) of `feed`. */
  #cover(feed: string, from: number, to: number): void {
    const at = this.#covered.get(feed) ?? 0;
    if (from <= at && to > at) this.#covered.set(feed, to);
  }

  /** Asks for the blocks of entries of the feeds this side receives that it has not covered itself. */
  async #coverGaps(): Promise<void> {
    for (const feed of this.#targets.keys()) {
      if (this.#refusedFeeds.has(feed)) continue;
      const f = this.#engine.store.feeds.get(feed);
      const at = this.#covered.get(feed) ?? 0;
      if (f === undefined || f.length <= at) continue;
      const length = f.length;
      const { missing } = await scanMissing(f, at, this.#engine.blocks, this.#wants);
      this.#want(missing);
      this.#cover(feed, at, length);
    }
  }

  #fillWindow(): void {
    if (this.#closing) return;
    const ask: Buffer[] = [];
    while (this.#inflight.size - this.#storing < BLOCK_WINDOW && this.#wantHead < this.#wantQueue.length) {
      const h = this.#wantQueue[this.#wantHead++]!;
      const k = h.toString('hex');
      if (this.#engine.blocks.has(h)) {
        this.#wanted.delete(k);
        continue;
      }
      if (this.#inflight.has(k)) continue; // asked for by request(): its answer settles it
      this.#inflight.add(k);
      ask.push(h);
    }
    if (this.#wantHead === this.#wantQueue.length) {
      this.#wantQueue = [];
      this.#wantHead = 0;
    } else if (this.#wantHead >= 4096 && this.#wantHead * 2 >= this.#wantQueue.length) {
      this.#wantQueue = this.#wantQueue.slice(this.#wantHead);
      this.#wantHead = 0;
    }
    if (ask.length > 0) this.#post({ type: 'want-blocks', hashes: ask });
  }

  #retryUnavailable(): void {
    if (this.#unavailable.length === 0 || this.#closing) return;
    this.#want(this.#unavailable.splice(0));
  }

  /**
   * `crcs`: each block's record CRC, as the sender read it (BLOCKS_CRC; stageIn's `known`);
   * `hashed`: the blocks' SHA-256, computed where the message was opened (openedBlocks).
   */
  async #onBlocks(blocks: ReadonlyArray<readonly [Buffer, Buffer]>, crcs?: readonly number[], hashed?: Hashed): Promise<void> {
    const keys = blocks.map(([hash]) => hash.toString('hex'));
    for (const k of keys) {
      if (!this.#inflight.has(k)) throw new SyncError('PROTOCOL', `the peer sent block ${k.slice(0, 16)}… that was not asked for`);
    }
    // These have arrived: ask for the next ones while they are hashed and stored, so the
    // peer keeps sending meanwhile.
    this.#storing += blocks.length;
    this.#fillWindow();
    // The hashes asked for, copied: storing may move the message's buffer away (stageIn).
    const asked = blocks.map(([hash]) => Buffer.from(hash));
    let got: Uint8Array[];
    let contents: Buffer[];
    let written: Promise<void> | null;
    let lease: FrameLease | null;
    try {
      ({ hashes: got, contents, written, lease } = await this.#store(blocks.map(([, data]) => data), crcs === undefined ? undefined : { hashes: asked, crcs }, hashed));
    } finally {
      this.#storing -= blocks.length;
    }
    try {
      this.#settleAll(keys, asked, got, contents, crcs);
      if (crcs !== undefined) this.stats.blocksInWithCrc += blocks.length;
    } finally {
      lease?.release(); // the waiters have the blocks; what keeps them (staged, read-ahead) holds the message itself
    }
    this.#fillWindow();
    // The blocks are readable (staged) and their waiters have them: the write they started
    // runs while the next messages are hashed. A few writes may run behind (a disk that
    // stalls a moment does not stall the reads); past that, the oldest must be done first.
    if (written !== null) {
      written.catch(() => undefined); // awaited below, or when the session ends
      this.#writing.push(written);
      if (this.#writing.length > WRITES_BEHIND) await this.#writing.shift();
    }
  }

  /**
   * Hands received blocks to who waits for them; refuses the message at the first that is not
   * what was asked for, unless it came with a CRC (BLOCKS_CRC) that its bytes do not match:
   * the serving peer sends its record's CRC field unchecked (a check there was a CRC pass over
   * every byte served), so such a block is one damaged on the serving peer's disk, taken as
   * one it does not have (as NO_BLOCKS would say).
   */
  #settleAll(keys: readonly string[], asked: readonly Buffer[], got: readonly Uint8Array[], contents: readonly Buffer[], crcs: readonly number[] | undefined): void {
    for (let i = 0; i < keys.length; i++) {
      const hash = asked[i]!;
      const data = contents[i]!;
      const k = keys[i]!;
      if (!hash.equals(got[i]!)) {
        // Stored under the hash of what came (content-addressed, so nothing names it); the block asked for is still missing.
        if (crcs !== undefined && recordCrcOf(hash, data) !== crcs[i]) this.#notThere(k, hash);
        else {
          this.#inflight.delete(k);
          this.#wanted.delete(k);
          this.#demanded.delete(k);
          this.#settleWaiters(k, null);
          throw new SyncError('PROTOCOL', `block ${k.slice(0, 16)}… does not match its hash: refused`);
        }
        continue;
      }
      this.#inflight.delete(k);
      this.#wanted.delete(k);
      this.#demanded.delete(k);
      this.#settleWaiters(k, data);
      this.stats.blocksIn++;
      this.stats.blockBytesIn += data.byteLength;
    }
  }

  /**
   * Hashes and stages received blocks (readable at once); their hashes, in order, the blocks
   * (as views to read them by from now on), and the write that staging started (see
   * stageMany), if any.
   *
   * A message of large blocks whose buffer holds that message alone (the plaintext of its
   * frame) is handed to the block store whole (stageIn): its blocks are hashed, with their
   * records' CRCs, in the block hasher's worker, not on the event loop, which decrypts
   * every frame and is what limits an Unreal read's stream, and they are stored as views of
   * the frame, not copies. (The frame lives until its blocks are written and read; V8 runs
   * its full collections by the external bytes allocated, which frames kept do not change.)
   * Otherwise a large block is copied into a buffer of the store's pool (`owned`), and small
   * ones are kept as they are. So are the one or two blocks of an answer to a read that
   * waits (PRIORITY_REQUEST): hashing them here is quicker than the worker's round trip.
   */
  async #store(contents: readonly Buffer[], known?: { hashes: readonly Uint8Array[]; crcs: readonly number[] }, hashed?: Hashed): Promise<{ hashes: Uint8Array[]; contents: Buffer[]; written: Promise<void> | null; lease: FrameLease | null }> {
    const blocks = this.#engine.blocks;
    const frame = contents[0]?.buffer;
    const whole = 5 + contents.reduce((n, c) => n + 36 + c.byteLength, 0); // messages.ts: a `blocks` message's bytes
    const pooled = frame !== undefined && receivedFrames.owns(frame); // opened into a pooled buffer: it goes back once stored and read
    if (
      contents.length > PRIORITY_REQUEST && // a read waiting for one block: no round trip to the worker
      frame !== undefined &&
      (pooled || frame.byteLength === whole) &&
      contents.every((c) => c.buffer === frame && c.byteLength >= POOLED_BLOCK && c.byteLength <= BLOCK_SIZE)
    ) {
      const spans = contents.map((c) => [c.byteOffset, c.byteLength] as const);
      const pre = known !== undefined && pooled ? hashesAt(hashed, spans) : undefined;
      const r = await blocks.stageIn(frame, spans, pooled ? { free: giveBack, flush: true, known, ...(pre !== undefined ? { hashed: pre } : {}) } : { known });
      if (pre !== undefined) this.stats.blocksInHashedOpened += spans.length;
      return { hashes: r.hashes, contents: r.blocks, written: r.written, lease: r.lease };
    }
    const large: number[] = [];
    const small: number[] = [];
    contents.forEach((c, i) => (c.byteLength >= POOLED_BLOCK && c.byteLength <= BLOCK_SIZE ? large : small).push(i));
    const copies = large.map((i) => {
      const c = contents[i]!;
      const b = blockBuffers.take().subarray(0, c.byteLength);
      c.copy(b);
      return b;
    });
    const none = { hashes: [] as Uint8Array[], written: null };
    const [a, b] = await Promise.all([
      copies.length > 0 ? blocks.stageMany(copies, { owned: true }) : none,
      small.length > 0 ? blocks.stageMany(small.map((i) => contents[i]!)) : none,
    ]);
    const hashes: Uint8Array[] = new Array(contents.length);
    large.forEach((i, k) => (hashes[i] = a.hashes[k]!));
    small.forEach((i, k) => (hashes[i] = b.hashes[k]!));
    const writes = [a.written, b.written].filter((w): w is Promise<void> => w !== null);
    return { hashes, contents: [...contents], written: writes.length === 0 ? null : Promise.all(writes).then(() => undefined), lease: null };
  }

  /** Takes the next batch to serve: reads waiting on the other side go first, in a message of their own. */
  #takeServe(): Buffer[] {
    if (this.#servePriority.length > 0) return this.#servePriority.splice(0, SERVE_BATCH);
    return this.#serveQueue.splice(0, SERVE_BATCH);
  }

  /**
   * Reads a batch of blocks (null: not here) into a buffer of its own, given back (#serveBuffer)
   * once the batch is sealed: one read per run of records back to back in a pack, not one per
   * block. Blocks that cannot be read so (staged, compressed, moved by gc) are read one by one.
   *
   * For a peer that takes the records' CRCs (BLOCKS_CRC), they are sent as read, unchecked:
   * a block damaged on this disk then fails the receiver's hash check with a CRC that its
   * bytes do not match, which the receiver takes as not here (#settleAll), so it asks another
   * peer; the check here was a CRC pass over every byte served (zlib's crc32, about 0.2-0.4
   * CPU-s a GiB on this event loop). For a peer from before BLOCKS_CRC they are checked here
   * and a damaged block is answered as not here: unchecked, that peer's hash check would
   * refuse it as forged and drop the connection, and every later connection that asked for it again.
   */
  async #readServe(take: readonly Buffer[], into: Buffer): Promise<Array<{ data: Buffer; crc: number } | null>> {
    const blocks = this.#engine.blocks;
    let read: Array<Buffer | null>;
    const crcs: number[] = [];
    try {
      read = await blocks.readRuns(take, into, crcs, !this.#peerTakesCrcs);
    } catch {
      read = take.map(() => null);
    }
    return Promise.all(
      take.map(async (h, i) => {
        if (read[i] !== null && crcs[i] !== undefined) return { data: read[i]!, crc: crcs[i]! };
        if (!blocks.has(h)) return null;
        try {
          const got = await blocks.get(h);
          const data = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
          // Not read from a raw record (staged, compressed, zeros): the CRC such a record would have.
          return { data, crc: this.#peerTakesCrcs ? recordCrcOf(h, data) : 0 };
        } catch {
          return null;
        }
      }),
    );
  }

  /** A buffer for one batch of served blocks (records and headers), from the few this session reuses. */
  #serveBuffer(): Buffer {
    // Shared memory: the block hasher's worker seals the blocks read into it where they lie (SecureChannel.send).
    return this.#serveBuffers.pop() ?? Buffer.from(new SharedArrayBuffer(SERVE_BATCH * (BLOCK_SIZE + RECORD_HEADER_BYTES)));
  }

  #startServe(take: Buffer[]): ServeBatch {
    const into = this.#serveBuffer();
    return { take, into, read: this.#readServe(take, into) };
  }

  /** Gives a batch's buffer back once nothing of it is needed (a batch still being read: once read). */
  #endServe(batch: ServeBatch | null): void {
    if (batch === null) return;
    void batch.read.then(
      () => this.#serveBuffers.length < SERVE_BUFFERS && this.#serveBuffers.push(batch.into),
      () => undefined,
    );
  }

  async #serveBlocks(): Promise<void> {
    // One bulk batch is read while the one before it is sealed and sent, so the disk and the
    // socket both stay busy; a read waiting on the other side goes before that batch.
    let next: ServeBatch | null = null;
    while (!this.#closing) {
      let cur: ServeBatch;
      if (this.#servePriority.length > 0 || (next === null && this.#serveQueue.length > 0)) {
        cur = this.#startServe(this.#takeServe());
      } else if (next !== null) {
        cur = next;
        next = null;
      } else {
        await new Promise<void>((resolve) => (this.#serveWake = resolve));
        this.#serveWake = null;
        continue;
      }
      const { take } = cur;
      const read = await cur.read;
      if (next === null && this.#servePriority.length === 0 && this.#serveQueue.length > 0) {
        next = this.#startServe(this.#serveQueue.splice(0, SERVE_BATCH));
      }
      const batch: Array<readonly [Buffer, Buffer]> = [];
      const crcs: number[] = [];
      const missing: Buffer[] = [];
      let bytes = 0;
      take.forEach((h, i) => {
        const got = read[i];
        if (got === null || got === undefined) missing.push(h);
        else {
          batch.push([h, got.data]);
          crcs.push(got.crc);
          bytes += got.data.byteLength;
        }
      });
      try {
        // send resolves once the blocks were sealed (read where they lie, or copied out): the buffer is free after.
        if (batch.length > 0) {
          await this.#send(this.#peerTakesCrcs ? { type: 'blocks', blocks: batch, crcs } : { type: 'blocks', blocks: batch });
          this.stats.blocksOut += batch.length;
          this.stats.blockBytesOut += bytes;
          this.#engine.placement?.served(this.peer, batch.map(([h]) => h));
        }
        if (missing.length > 0) await this.#send({ type: 'no-blocks', hashes: missing });
      } catch {
        this.#endServe(next);
        return; // the channel closed; the receive loop reports why
      } finally {
        this.#endServe(cur);
      }
    }
    this.#endServe(next);
  }

  /** After the session: makes the blocks durable, then moves each feed's "all blocks held" mark. */
  async #settleBlocks(): Promise<void> {
    await this.#engine.blocks.sync();
    const data = this.#host.state.data;
    for (const f of this.#engine.store.feeds.list()) {
      if (f.name.slice(0, 64) === this.#self) continue;
      const done = data.blocksDone[f.name] ?? 0;
      if (done >= f.length) continue;
      const { complete } = await scanMissing(f, done, this.#engine.blocks, this.#wants);
      if (complete > done) {
        data.blocksDone[f.name] = complete;
        this.#host.state.touch();
      }
    }
  }

  // ---------------------------------------------------------------- one-shot completion

  /** This side holds what the peer had at the start, and every block of it the peer could give. */
  #receiveComplete(): boolean {
    if (this.#peerFollows === null) return false;
    const feeds = this.#engine.store.feeds;
    for (const [feed, n] of this.#targets) {
      if (this.#refusedFeeds.has(feed)) continue;
      if ((feeds.get(feed)?.length ?? 0) < n) return false;
    }
    return this.#wantHead === this.#wantQueue.length && this.#inflight.size === 0;
  }

  /** Tells the peer each time this side becomes caught up. */
  #checkCaughtUp(): void {
    const now = this.#receiveComplete();
    if (now && !this.#sentCaughtUp && this.channel.isOpen) {
      this.#flushAcks(); // the acks go first: the other side may close on caught-up
      this.#post({ type: 'caught-up' });
    }
    this.#sentCaughtUp = now;
  }

  /** Both sides hold what the other had at the start (a one-shot sync is over). */
  #complete(): boolean {
    return this.#peerCaughtUp && this.#receiveComplete();
  }
}
