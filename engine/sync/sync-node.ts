/**
 * A running peer: the household and follow settings, the acknowledgements, a listener (for a
 * listening peer) and the connections it dials. `realize serve` keeps one of these up;
 * `realize sync` makes one that only dials. Every accepted or dialled connection is
 * authenticated (secure-channel.ts) against the household as it stands, then runs a Session.
 * One connection per pair of peers: when both dial each other, both keep the one dialled by
 * the lower key.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Engine } from '../engine.js';
import { Acks } from './acks.js';
import { formatAddress, parseAddress, type Address } from './address.js';
import { Household } from './household.js';
import { cpuHasAes } from './cpu-aes.js';
import { BorrowedReads, SecureChannel } from './secure-channel.js';
import { Session, type SessionHost, type SessionStats } from './session.js';
import { SyncError } from './sync-error.js';
import { followedAreas, readFollows, SyncState, writeLive } from './sync-state.js';

export interface NodeOptions {
  /** Listen here (a listening peer); omit for a deaf peer. Port 0 picks a free port. */
  readonly listen?: Address;
  /** Keep a live connection to every member that has an address (what `serve` does). */
  readonly dial?: boolean;
  readonly log?: (line: string) => void;
  readonly handshakeTimeoutMs?: number;
  /** First wait before dialling a peer again after a failure (doubles, up to 30 s). */
  readonly reconnectMs?: number;
  /** Write <store>/sync/live.json for `realize status`. */
  readonly writeLive?: boolean;
  readonly maxFrameBytes?: number;
  readonly connectTimeoutMs?: number;
  /** False: do not take blocks with their records' CRCs (BLOCKS_CRC), as a peer from before them (tests). */
  readonly blockCrcs?: boolean;
  /** Offer and take AES-256-GCM frames (handshake.ts); default: when the CPU has AES instructions (cpu-aes.ts). */
  readonly aesGcm?: boolean;
}

export interface SyncTarget {
  /** The peer's key (hex), checked in the handshake. */
  readonly key?: string;
  readonly address: string;
}

const TICK_MS = 500;

export class SyncNode implements SessionHost {
  readonly engine: Engine;
  readonly acks: Acks;
  readonly state: SyncState;
  readonly #opts: NodeOptions;
  #household: Household;
  #followSettings: Record<string, boolean>;
  #server: Server | null = null;
  #address: Address | null = null;
  readonly #sessions = new Map<string, Session>();
  readonly #all = new Set<Session>();
  readonly #sockets = new Set<Socket>();
  readonly #dialing = new Set<string>();
  readonly #backoff = new Map<string, { wait: number; at: number }>();
  readonly #connectedSince = new Map<string, number>();
  #timer: NodeJS.Timeout | null = null;
  #closed = false;

  private constructor(engine: Engine, state: SyncState, household: Household, follows: Record<string, boolean>, opts: NodeOptions) {
    this.engine = engine;
    this.state = state;
    this.acks = new Acks(state);
    this.#household = household;
    this.#followSettings = follows;
    this.#opts = opts;
  }

  static async start(engine: Engine, opts: NodeOptions = {}): Promise<SyncNode> {
    const state = await SyncState.open(engine.store.layout.root);
    const household = await Household.load(engine.store.feeds, engine.store.publicKey);
    const node = new SyncNode(engine, state, household, await readFollows(engine.store.layout.root), opts);
    if (opts.listen !== undefined) await node.#listen(opts.listen);
    node.#timer = setInterval(() => void node.#tick(), TICK_MS);
    node.#timer.unref();
    if (opts.dial) void node.#tick();
    return node;
  }

  log(line: string): void {
    this.#opts.log?.(line);
  }

  household(): Household {
    return this.#household;
  }

  async refreshHousehold(): Promise<Household> {
    const feeds = this.engine.store.feeds;
    if (Household.versionOf(feeds) === this.#household.version) return this.#household;
    this.#household = await Household.load(feeds, this.engine.store.publicKey);
    for (const s of this.#all) {
      if (!this.#household.isMember(s.peer)) {
        this.log(`${s.label} was removed from the household: closing its connection`);
        void s.stop('removed', 'this peer was removed from the household');
      }
    }
    return this.#household;
  }

  follows(): ReadonlySet<string> {
    const held = this.engine.readdir('/').map((d) => d.name);
    return followedAreas(this.#followSettings, held);
  }

  /** Where the listener listens (with the port picked, if 0 was asked). */
  get address(): Address | null {
    return this.#address;
  }

  /** Connected peers. */
  get sessions(): ReadonlyMap<string, Session> {
    return this.#sessions;
  }

  async #listen(at: Address): Promise<void> {
    const server = createServer((socket) => void this.#accept(socket));
    server.maxConnections = 256;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at.port, at.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log(`listener error: ${err.message}`));
    const a = server.address();
    if (a === null || typeof a === 'string') throw new SyncError('IO', 'the listener has no address');
    this.#server = server;
    this.#address = { host: a.address, port: a.port };
  }

  #policy(expect?: string) {
    const signer = this.engine.store.feeds.signer;
    if (signer === undefined) throw new SyncError('BAD_ARGUMENT', 'the store is open read-only: it cannot sync');
    return {
      signer,
      isMember: (k: string) => this.#household.isMember(k),
      aesGcm: this.#opts.aesGcm ?? cpuHasAes(),
      ...(expect !== undefined ? { expect } : {}),
      ...(this.#opts.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: this.#opts.handshakeTimeoutMs } : {}),
      ...(this.#opts.maxFrameBytes !== undefined ? { maxFrameBytes: this.#opts.maxFrameBytes } : {}),
    };
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  async #accept(socket: Socket): Promise<void> {
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    this.#track(socket);
    if (this.#closed) {
      socket.destroy();
      return;
    }
    let ch: SecureChannel;
    try {
      await this.refreshHousehold();
      ch = await SecureChannel.accept(socket, this.#policy());
    } catch (err) {
      this.log(`refused connection from ${from}: ${(err as Error).message}`);
      return;
    }
    await this.#runSession(ch, true);
  }

  /**
   * Dials `target` and syncs: until in sync (live false; throws CLOSED when the connection
   * ended first) or until the connection ends (live true).
   */
  async syncWith(target: SyncTarget, opts: { live?: boolean } = {}): Promise<SessionStats> {
    const ch = await this.#dial(target);
    const { stats, reason } = await this.#runSession(ch, opts.live === true);
    if (opts.live !== true && reason !== null) throw new SyncError('CLOSED', `the sync with ${target.address} did not finish: ${reason}`);
    return stats;
  }

  async #dial(target: SyncTarget): Promise<SecureChannel> {
    const addr = parseAddress(target.address);
    await this.refreshHousehold();
    const reads = new BorrowedReads();
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: addr.host, port: addr.port, onread: reads.onread });
      this.#track(s);
      const ms = this.#opts.connectTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SyncError('TIMEOUT', `could not connect to ${target.address} within ${ms} ms`));
      }, ms);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new SyncError('IO', `cannot connect to ${target.address}: ${err.message}`, { cause: err }));
      });
    });
    try {
      return await SecureChannel.dial(socket, { ...this.#policy(target.key), reads });
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  async #runSession(ch: SecureChannel, live: boolean): Promise<{ stats: SessionStats; reason: string | null }> {
    this.#followSettings = await readFollows(this.engine.store.layout.root).catch(() => this.#followSettings);
    const session = new Session(this, ch, { live, blockCrcs: this.#opts.blockCrcs ?? true });
    const peer = session.peer;
    const existing = this.#sessions.get(peer);
    if (existing !== undefined && live && existing.live) {
      // Keep the connection dialled by the lower key, on both sides alike.
      const dialerOf = (s: Session): string => (s.channel.role === 'dialer' ? this.engine.store.publicKey : s.peer);
      if (dialerOf(session) > dialerOf(existing)) {
        await ch.close();
        return { stats: session.stats, reason: 'a second connection between the same peers' };
      }
      void existing.stop('duplicate', 'a second connection between the same peers');
    }
    this.#sessions.set(peer, session);
    this.#all.add(session);
    this.#connectedSince.set(peer, Date.now());
    this.#backoff.delete(peer);
    void this.#writeLive();
    try {
      const stats = await session.run();
      return { stats, reason: session.closeReason };
    } finally {
      this.#all.delete(session);
      if (this.#sessions.get(peer) === session) {
        this.#sessions.delete(peer);
        this.#connectedSince.delete(peer);
      }
      void this.#writeLive();
    }
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#followSettings = await readFollows(this.engine.store.layout.root);
      await this.refreshHousehold();
    } catch (err) {
      this.log(`reading sync settings failed: ${(err as Error).message}`);
    }
    if (this.#opts.dial) {
      const now = Date.now();
      for (const m of this.#household.peers()) {
        if (m.address === null || this.#sessions.has(m.key) || this.#dialing.has(m.key)) continue;
        const b = this.#backoff.get(m.key);
        if (b !== undefined && b.at > now) continue;
        this.#dialing.add(m.key);
        void this.#keepConnected(m.key, m.address);
      }
    }
    if (this.#opts.writeLive) void this.#writeLive();
  }

  async #keepConnected(key: string, address: string): Promise<void> {
    try {
      const ch = await this.#dial({ key, address });
      this.#dialing.delete(key);
      await this.#runSession(ch, true);
    } catch (err) {
      if (!this.#closed) this.log(`cannot sync with ${this.#household.get(key)?.name ?? key.slice(0, 12)} at ${address}: ${(err as Error).message}`);
    } finally {
      this.#dialing.delete(key);
      const prev = this.#backoff.get(key)?.wait ?? 0;
      const first = this.#opts.reconnectMs ?? 1000;
      const wait = prev === 0 ? first : Math.min(30_000, prev * 2);
      this.#backoff.set(key, { wait, at: Date.now() + wait });
    }
  }

  async #writeLive(): Promise<void> {
    if (!this.#opts.writeLive || this.#closed) return;
    const peers: Record<string, { connected: boolean; since: number | null; address: string | null }> = {};
    for (const m of this.#household.peers()) {
      peers[m.key] = { connected: this.#sessions.has(m.key), since: this.#connectedSince.get(m.key) ?? null, address: m.address };
    }
    await writeLive(this.engine.store.layout.root, {
      pid: process.pid,
      listen: this.#address === null ? null : formatAddress(this.#address),
      updated: Date.now(),
      peers,
    }).catch(() => undefined);
  }

  /** Closes the listener and every connection; waits for the sessions to end. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    const server = this.#server;
    const closing = server === null ? Promise.resolve() : new Promise<void>((r) => server.close(() => r()));
    await Promise.all([...this.#all].map((s) => s.stop('shutdown', 'the peer is shutting down')));
    for (const s of this.#sockets) s.destroy();
    await closing;
    await this.state.save();
    if (this.#opts.writeLive) {
      await writeLive(this.engine.store.layout.root, { pid: 0, listen: null, updated: Date.now(), peers: {} }).catch(() => undefined);
    }
  }
}
