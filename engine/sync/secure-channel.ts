/**
 * A mutually authenticated, encrypted connection over a TCP socket: the handshake of
 * handshake.ts, then frames sealed by aead.ts (spec/wire-format.md). The channel carries
 * opaque messages (the sync protocol's, session.ts); it applies backpressure both ways:
 * send() waits while the socket's buffer is full, and the socket is paused while received
 * messages wait unread.
 */
import type { Socket } from 'node:net';
import { toHex } from '../../log/index.js';
import { blockHasher, transferable, type BlocksWanted } from '../block-hasher.js';
import { copyBytes } from '../copy-bytes.js';
import { Opener, Sealer, TAG_BYTES, type FrameCipher } from './aead.js';
import { POOLED_FRAME_BYTES, receivedFrames, sentFrames } from './frame-pool.js';
import {
  decodeHandshake,
  dialerFinish,
  dialerStart,
  encodeRefuse,
  listenerFinish,
  listenerReply,
  MAX_HANDSHAKE_BYTES,
  type HandshakeMessage,
  type HandshakePolicy,
  type SessionKeys,
} from './handshake.js';
import { RecordReader } from './record-reader.js';
import { SyncError } from './sync-error.js';

/** The largest message a frame carries. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + TAG_BYTES;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Received bytes waiting to be read that pause the socket. */
const HIGH_WATER = 32 * 1024 * 1024;
const LOW_WATER = 8 * 1024 * 1024;

export interface ChannelOptions extends HandshakePolicy {
  readonly handshakeTimeoutMs?: number;
  /** Lower than MAX_MESSAGE_BYTES to test the limit. */
  readonly maxFrameBytes?: number;
  /** The socket reads into one buffer of its own (it was made with `reads.onread`). */
  readonly reads?: BorrowedReads;
}

/** Parts of a message under this size (headers, hashes) may lie anywhere when it is sealed off this thread. */
const SMALL_PART = 4096;

/** Bytes a socket made with BorrowedReads reads at a time. */
const READ_BUFFER = 256 * 1024;

/**
 * For a socket that reads into buffers it is lent instead of a fresh one per read (Node's
 * `onread` socket option, its buffer a function asked before each read): give `onread` to
 * net.connect and the object to the channel. While a large frame arrives, the socket reads
 * straight into the frame's pooled buffer, where it is then opened (no copy at all); other
 * reads go into one buffer of its own, whose bytes the channel copies into its record
 * reader, so a bulk transfer allocates (and the GC collects) nothing per read. Bytes that
 * arrive before the channel takes over are kept.
 */
export class BorrowedReads {
  readonly onread: { buffer: () => Uint8Array; callback: (n: number, buf: Uint8Array) => boolean };
  #sink: ((chunk: Buffer) => boolean) | null = null;
  #target: (() => Buffer | null) | null = null;
  readonly #own = Buffer.allocUnsafeSlow(READ_BUFFER);
  readonly #early: Buffer[] = [];

  constructor() {
    this.onread = {
      // Node asks for the next read's buffer after each read's callback (and once at the start).
      buffer: () => this.#target?.() ?? this.#own,
      callback: (n, buf) => {
        const chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
        if (this.#sink !== null) return this.#sink(chunk);
        this.#early.push(Buffer.from(chunk));
        return true;
      },
    };
  }

  /**
   * Where reads go from now on: `sink` takes each (in the socket's own buffer: copied before
   * it returns; false pauses the socket), and `target`, when it gives one, is where the next
   * read lands (the channel recognises those bytes in place).
   */
  attach(sink: (chunk: Buffer) => boolean, early: (chunk: Buffer) => void, target?: () => Buffer | null): void {
    for (const c of this.#early.splice(0)) early(c);
    this.#sink = sink;
    this.#target = target ?? null;
  }
}

export interface ChannelStats {
  bytesIn: number;
  bytesOut: number;
  framesIn: number;
  framesOut: number;
}

type Mode = 'handshake' | 'transport' | 'done';

export class SecureChannel {
  readonly socket: Socket;
  readonly role: 'dialer' | 'listener';
  readonly stats: ChannelStats = { bytesIn: 0, bytesOut: 0, framesIn: 0, framesOut: 0 };
  #peer: Uint8Array | null = null;
  #transcript: Uint8Array | null = null;
  #cipher: FrameCipher | null = null;
  readonly #reader = new RecordReader();
  readonly #maxFrame: number;
  #mode: Mode = 'handshake';
  #sealer: Sealer | null = null;
  #opener: Opener | null = null;
  #error: SyncError | null = null;
  #ended = false;
  /** Messages received, in order: opened, or being opened (large ones); `n` their bytes. */
  readonly #queue: Array<{ m: Buffer | Promise<Buffer>; n: number }> = [];
  #queuedBytes = 0;
  #paused = false;
  #waiter: { resolve: () => void } | null = null;
  /** A large frame whose bytes go from the socket straight into its pooled buffer (#take), `at` of them so far. */
  #filling: { prefix: Buffer; sealed: Buffer; at: number } | null = null;
  /** Messages of blocks whose blocks the worker that opens large frames hashes too (hashBlocks). */
  #hashBlocks: BlocksWanted | undefined = undefined;
  /** The last frame being sealed off this thread, or waiting to be written after one (send): later frames are written after it. */
  #writes: Promise<void> | null = null;
  readonly #closed: Promise<void>;

  private constructor(socket: Socket, role: 'dialer' | 'listener', maxFrame: number, reads?: BorrowedReads) {
    this.socket = socket;
    this.role = role;
    this.#maxFrame = maxFrame;
    socket.setNoDelay(true);
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
    if (reads !== undefined) {
      reads.attach(
        (chunk) => {
          this.#take(chunk, true);
          return !this.#paused;
        },
        (chunk) => this.#take(chunk, false),
        // While a large frame arrives, the socket reads the rest of it into its pooled buffer.
        () => (this.#filling !== null && this.#error === null ? this.#filling.sealed.subarray(this.#filling.at) : null),
      );
    } else {
      socket.on('data', (chunk: Buffer) => this.#take(chunk, false));
    }
    socket.on('end', () => {
      this.#ended = true;
      // In transport mode every whole frame has been taken: what is left is a cut frame.
      // (In the handshake the reader says so when the next message is asked for.)
      const inside = this.#filling !== null ? 4 + this.#filling.at : this.#reader.buffered;
      if (this.#mode === 'transport' && inside > 0 && this.#error === null) {
        this.#fail(new SyncError('TRUNCATED', `the connection ended inside a frame (${inside} bytes of it arrived)`));
      }
      this.#wake();
    });
    socket.on('error', (err) => {
      if (this.#error === null) this.#error = new SyncError('IO', `connection error: ${err.message}`, { cause: err });
      this.#wake();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake();
    });
  }

  /** Runs the dialer's side of the handshake on a connected socket. */
  static async dial(socket: Socket, opts: ChannelOptions): Promise<SecureChannel> {
    const ch = new SecureChannel(socket, 'dialer', opts.maxFrameBytes ?? MAX_FRAME_BYTES, opts.reads);
    return ch.#handshake(opts, async () => {
      const { state, hello } = dialerStart(opts);
      ch.#writeRecord(hello);
      const reply = await ch.#nextHandshake();
      let done;
      try {
        done = dialerFinish(state, reply);
      } catch (err) {
        if (err instanceof SyncError && err.code !== 'REFUSED') ch.#writeRecord(encodeRefuse(err.message));
        throw err;
      }
      ch.#writeRecord(done.auth);
      return done.keys;
    });
  }

  /** Runs the listener's side of the handshake on an accepted socket. */
  static async accept(socket: Socket, opts: ChannelOptions): Promise<SecureChannel> {
    const ch = new SecureChannel(socket, 'listener', opts.maxFrameBytes ?? MAX_FRAME_BYTES, opts.reads);
    return ch.#handshake(opts, async () => {
      const hello = await ch.#nextHandshake();
      let keys: SessionKeys;
      try {
        const { state, reply } = listenerReply(opts, hello);
        ch.#writeRecord(reply);
        keys = listenerFinish(state, await ch.#nextHandshake());
      } catch (err) {
        if (err instanceof SyncError && ['UNKNOWN_KEY', 'BAD_SIGNATURE', 'BAD_HANDSHAKE'].includes(err.code)) ch.#writeRecord(encodeRefuse(err.message));
        throw err;
      }
      return keys;
    });
  }

  async #handshake(opts: ChannelOptions, run: () => Promise<SessionKeys>): Promise<SecureChannel> {
    const ms = opts.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const timer = setTimeout(() => this.#fail(new SyncError('TIMEOUT', `the handshake did not finish within ${ms} ms`)), ms);
    try {
      const keys = await run();
      if (this.#error !== null) throw this.#error;
      this.#peer = keys.peer;
      this.#transcript = keys.transcript;
      this.#sealer = new Sealer(keys.send, keys.cipher);
      this.#opener = new Opener(keys.receive, keys.cipher);
      this.#cipher = keys.cipher;
      this.#mode = 'transport';
      this.#pump();
      return this;
    } catch (err) {
      const e = err instanceof SyncError ? err : new SyncError('BAD_HANDSHAKE', (err as Error).message, { cause: err });
      this.#error ??= e;
      this.#mode = 'done';
      // Let the REFUSE (if any) go out, then close.
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 200).unref();
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The other side's key, hex. */
  get peerKey(): string {
    if (this.#peer === null) throw new SyncError('PROTOCOL', 'the handshake has not finished');
    return toHex(this.#peer);
  }

  /** The frame cipher the handshake chose. */
  get cipher(): FrameCipher {
    if (this.#cipher === null) throw new SyncError('PROTOCOL', 'the handshake has not finished');
    return this.#cipher;
  }

  get transcript(): Uint8Array {
    if (this.#transcript === null) throw new SyncError('PROTOCOL', 'the handshake has not finished');
    return this.#transcript;
  }

  /**
   * From now on, large frames that hold such a message of blocks have their blocks hashed by
   * the worker that opens them (openedBlocks.take(message) has the hashes): what reads the
   * messages would only post the blocks back to that worker to be hashed.
   */
  hashBlocks(want: BlocksWanted): void {
    this.#hashBlocks = want;
  }

  /** Messages received and not taken by receive() yet. */
  get queued(): number {
    return this.#queue.length;
  }

  get error(): SyncError | null {
    return this.#error;
  }

  get isOpen(): boolean {
    return this.#error === null && !this.#ended && !this.socket.destroyed;
  }

  #writeRecord(body: Buffer): void {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(body.byteLength);
    this.stats.bytesOut += 2 + body.byteLength;
    this.socket.write(Buffer.concat([len, body]));
  }

  async #nextHandshake(): Promise<HandshakeMessage> {
    for (;;) {
      if (this.#error !== null) throw this.#error;
      let rec;
      try {
        rec = this.#reader.next(2, MAX_HANDSHAKE_BYTES, 'handshake message');
      } catch (err) {
        // Garbage: say what the first bytes were, not what their length would have been.
        this.#fail(new SyncError('NOT_REALIZE', `not a Realize handshake (${(err as Error).message})`));
        throw this.#error!;
      }
      if (rec !== null) {
        try {
          return decodeHandshake(rec.body);
        } catch (err) {
          this.#fail(err as SyncError);
          throw err;
        }
      }
      if (this.#ended) {
        throw (this.#error ??= new SyncError('TRUNCATED', `the connection closed during the handshake${this.#reader.buffered > 0 ? ` (inside a message: ${this.#reader.buffered} bytes)` : ''}`));
      }
      await new Promise<void>((resolve) => (this.#waiter = { resolve }));
    }
  }

  /**
   * Bytes from the socket (`borrowed`: in a buffer the socket reuses once this returns). In
   * transport mode, the bytes of a large frame go straight into its pooled buffer: read there
   * by the socket (BorrowedReads' target), or copied there once as they come, while they are
   * still in the CPU's caches. Collecting them in the record reader and then copying the whole
   * frame cost the receiving event loop two copies of every byte streamed (about 0.25 CPU-s a
   * GiB, most of it the second copy, from memory out of the caches).
   */
  #take(chunk: Buffer, borrowed: boolean): void {
    this.stats.bytesIn += chunk.byteLength;
    if (this.#mode !== 'transport') {
      // Handshake messages are kept by what decodes them: those get a buffer of their own.
      this.#reader.push(borrowed ? Buffer.from(chunk) : chunk);
      this.#pump();
      return;
    }
    let rest = chunk;
    const f = this.#filling;
    if (f !== null && this.#error === null) {
      if (chunk.buffer === f.sealed.buffer && chunk.byteOffset === f.sealed.byteOffset + f.at && chunk.byteLength <= f.sealed.byteLength - f.at) {
        // Read in place (BorrowedReads' target): nothing to copy.
        f.at += chunk.byteLength;
        rest = chunk.subarray(chunk.byteLength);
      } else {
        const n = Math.min(rest.byteLength, f.sealed.byteLength - f.at);
        f.at = copyBytes(f.sealed, n === rest.byteLength ? rest : rest.subarray(0, n), f.at);
        rest = rest.subarray(n);
      }
      if (f.at === f.sealed.byteLength) this.#openFilled();
    }
    this.#reader.push(rest);
    this.#pump();
    if (borrowed && rest.byteLength > 0) this.#reader.own(chunk.buffer);
  }

  /**
   * The large frame filled: opened in place in its pooled buffer by the block hasher's worker
   * (aead.ts openInPlace) and taken by receive() in order, once opened. Its reader gives the
   * buffer back (a `blocks` message, once its blocks were stored and read), or leaves it to
   * the collector (frame-pool.ts).
   */
  #openFilled(): void {
    const { prefix, sealed } = this.#filling!;
    this.#filling = null;
    const size = sealed.byteLength - TAG_BYTES;
    const opened = this.#opener!.openInPlace(prefix, sealed, this.#hashBlocks);
    opened.catch((err: unknown) => {
      receivedFrames.give(sealed.buffer);
      this.#fail(err instanceof SyncError ? err : new SyncError('BAD_FRAME', (err as Error).message));
    });
    this.stats.framesIn++;
    this.#queue.push({ m: opened, n: size });
    this.#queuedBytes += size;
  }

  #pump(): void {
    if (this.#mode !== 'transport') {
      this.#wake();
      return;
    }
    while (this.#error === null && this.#filling === null) {
      let rec;
      try {
        const len = this.#reader.peekLength(4, this.#maxFrame, 'frame');
        if (len === null) break;
        if (len - TAG_BYTES >= POOLED_FRAME_BYTES) {
          // A large frame: its bytes go into a pooled buffer, those here now and the rest as they come (#take).
          const prefix = this.#reader.takeOwn(4);
          const sealed = receivedFrames.take(len);
          this.#filling = { prefix, sealed, at: this.#reader.takeInto(sealed, 0, len) };
          if (this.#filling.at === len) this.#openFilled();
          continue;
        }
        rec = this.#reader.next(4, this.#maxFrame, 'frame', true); // open() copies the plaintext out
        if (rec === null) break;
        const plain = this.#opener!.open(rec.prefix, rec.body);
        if (plain.byteLength === 0) throw new SyncError('PROTOCOL', 'an empty message');
        this.stats.framesIn++;
        this.#queue.push({ m: plain, n: plain.byteLength });
        this.#queuedBytes += plain.byteLength;
      } catch (err) {
        this.#fail(err instanceof SyncError ? err : new SyncError('BAD_FRAME', (err as Error).message));
        break;
      }
    }
    if (this.#queuedBytes > HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.socket.pause();
    }
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.resolve();
  }

  #fail(err: SyncError): void {
    if (this.#error === null) this.#error = err;
    this.socket.destroy();
    this.#wake();
  }

  /**
   * The next message, or null when the other side closed cleanly. Throws the SyncError that
   * broke the connection (a frame that does not authenticate, an oversized frame, a
   * connection cut inside a frame).
   */
  async receive(): Promise<Buffer | null> {
    for (;;) {
      const q = this.#queue.shift();
      if (q !== undefined) {
        this.#queuedBytes -= q.n;
        if (this.#paused && this.#queuedBytes < LOW_WATER) {
          this.#paused = false;
          this.socket.resume();
        }
        return q.m; // a frame being opened: its failure failed the channel too
      }
      if (this.#error !== null) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#waiter = { resolve }));
    }
  }

  /** Seals and sends one message (the concatenation of `parts`); waits while the socket's buffer is full. */
  async send(parts: readonly Uint8Array[]): Promise<void> {
    if (this.#error !== null) throw this.#error;
    if (this.#sealer === null || this.socket.destroyed || this.socket.writableEnded) throw new SyncError('CLOSED', 'the connection is closed');
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    if (size === 0 || size + TAG_BYTES > this.#maxFrame) throw new SyncError('FRAME_TOO_LARGE', `a message of ${size} bytes does not fit in a frame (limit ${this.#maxFrame - TAG_BYTES})`);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(size + TAG_BYTES);
    // A large message whose large parts lie in shared memory (blocks served from the session's
    // batch buffers) is sealed by the block hasher's worker into a pooled buffer, given back
    // once the socket wrote it (frame-pool.ts). Frames are written in the order they took
    // their nonces: a frame sealed meanwhile waits for the ones before it.
    let write: () => boolean;
    if (size >= POOLED_FRAME_BYTES && parts.every((p) => p.byteLength < SMALL_PART || p.buffer instanceof SharedArrayBuffer)) {
      const out = sentFrames.take(size + TAG_BYTES);
      const sealing = this.#sealer.sealShared(prefix, parts, out);
      sealing.catch(() => undefined); // awaited below
      const before = this.#writes;
      const ready = before === null ? sealing : before.then(() => sealing);
      let sealed!: Buffer;
      const turn = ready.then((s) => {
        sealed = s;
      });
      const tail = turn.catch(() => undefined);
      this.#writes = tail;
      try {
        await turn;
      } catch (err) {
        const e = err instanceof SyncError ? err : new SyncError('IO', (err as Error).message);
        this.#fail(e);
        throw e;
      } finally {
        if (this.#writes === tail) this.#writes = null;
      }
      if (this.#error !== null) throw this.#error;
      write = () => {
        this.socket.cork();
        let ok = this.socket.write(prefix);
        ok = this.socket.write(sealed, (err) => err == null && sentFrames.give(out.buffer)) && ok;
        this.socket.uncork();
        return ok;
      };
    } else {
      const sealed = this.#sealer.seal(prefix, parts);
      write = () => {
        this.socket.cork();
        let ok = this.socket.write(prefix);
        for (let i = 0; i < sealed.length - 1; i++) ok = this.socket.write(sealed[i]!) && ok;
        // Large sealed parts (blocks served to a peer) are buffers of their own: once the socket
        // wrote them, they move to the block hasher's worker to be freed there, out of this
        // thread's count of new buffers that starts its full collections (see FrameLease).
        const large = sealed.filter((s) => transferable(s.buffer) && s.byteLength === s.buffer.byteLength);
        ok = this.socket.write(sealed[sealed.length - 1]!, large.length === 0 ? undefined : () => large.forEach((s) => blockHasher.drop(s.buffer as ArrayBuffer))) && ok;
        this.socket.uncork();
        return ok;
      };
      if (this.#writes !== null) {
        // A frame sealed before this one is still being sealed: this one is written after it.
        const before = this.#writes;
        const turn = before.then(() => undefined);
        this.#writes = turn;
        await turn;
        if (this.#writes === turn) this.#writes = null;
        if (this.#error !== null) throw this.#error;
      }
    }
    const ok = write();
    this.stats.bytesOut += 4 + size + TAG_BYTES;
    this.stats.framesOut++;
    if (!ok) await this.#drain();
  }

  async #drain(): Promise<void> {
    if (this.socket.destroyed || !this.socket.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Ends the connection after what was sent is flushed. */
  async close(): Promise<void> {
    if (!this.socket.destroyed) {
      this.socket.end();
      const timer = setTimeout(() => this.socket.destroy(), 2000);
      timer.unref();
      await this.#closed;
      clearTimeout(timer);
    }
  }

  /** Closes at once. */
  destroy(): void {
    this.socket.destroy();
  }

  get closed(): Promise<void> {
    return this.#closed;
  }
}
