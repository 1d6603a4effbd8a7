/**
 * A TCP proxy on 127.0.0.1 between a dialer and a listener that understands the framing
 * (spec/wire-format.md): the dialer sends two u16-prefixed handshake messages, the listener
 * one, then both send u32-prefixed frames. It can cut the connection after N frames, flip a
 * byte in a chosen frame, and records what the dialer sent. Closed on teardown.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { HasTeardown } from './peers.js';

export interface ProxyOptions {
  readonly target: { host: string; port: number };
  /** Cut both sockets once this many transport frames (both directions together) went through. */
  cutAfterFrames?: number;
  /** Flip one byte inside transport frame number `frame` (counted from 1) of `direction`. */
  corrupt?: { direction: 'toListener' | 'toDialer'; frame: number } | null;
}

export interface Proxy {
  readonly address: string;
  /** Everything each dialer sent, one buffer per connection. */
  readonly recorded: Buffer[];
  connections: number;
  cuts: number;
  corrupt: ProxyOptions["corrupt"];
  close(): Promise<void>;
}

class Framer {
  #buf: Buffer = Buffer.alloc(0);
  #handshake: number;
  frames = 0;
  constructor(handshakeRecords: number) {
    this.#handshake = handshakeRecords;
  }
  /** Feeds bytes; returns the whole records now complete, and whether to cut here. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => Buffer | null): { records: Buffer[]; cut: boolean } {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    const records: Buffer[] = [];
    for (;;) {
      const prefix = this.#handshake > 0 ? 2 : 4;
      if (this.#buf.byteLength < prefix) break;
      const len = prefix === 2 ? this.#buf.readUInt16BE(0) : this.#buf.readUInt32BE(0);
      if (len > 64 * 1024 * 1024) {
        records.push(this.#buf);
        this.#buf = Buffer.alloc(0);
        break;
      }
      if (this.#buf.byteLength < prefix + len) break;
      let rec: Buffer = Buffer.from(this.#buf.subarray(0, prefix + len));
      this.#buf = this.#buf.subarray(prefix + len);
      if (prefix === 2) this.#handshake--;
      else {
        this.frames++;
        const changed = onFrame(rec);
        if (changed === null) return { records, cut: true };
        rec = changed;
      }
      records.push(rec);
    }
    return { records, cut: false };
  }
}

export async function startProxy(t: HasTeardown, opts: ProxyOptions): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const p: Proxy = {
    address: '',
    recorded: [],
    connections: 0,
    cuts: 0,
    corrupt: opts.corrupt ?? null,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((down) => {
    p.connections++;
    const rec: Buffer[] = [];
    const up = connect(opts.target);
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    let total = 0;
    const cut = (): void => {
      p.cuts++;
      down.destroy();
      up.destroy();
    };
    const pipe = (from: Socket, to: Socket, framer: Framer, direction: 'toListener' | 'toDialer'): void => {
      from.on('data', (chunk: Buffer) => {
        if (direction === 'toListener') rec.push(Buffer.from(chunk));
        const { records, cut: cutHere } = framer.push(chunk, (frame) => {
          total++;
          const c = p.corrupt;
          if (c && c.direction === direction && c.frame === framer.frames) {
            frame[Math.min(frame.byteLength - 1, 10)] ^= 0x40;
          }
          if (opts.cutAfterFrames !== undefined && total >= opts.cutAfterFrames) return null;
          return frame;
        });
        for (const r of records) if (!to.destroyed) to.write(r);
        if (cutHere) cut();
      });
      from.on('end', () => to.end());
      from.on('close', () => to.destroy());
    };
    pipe(down, up, new Framer(2), 'toListener');
    pipe(up, down, new Framer(1), 'toDialer');
    down.on('close', () => p.recorded.push(Buffer.concat(rec)));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const a = server.address() as { port: number };
  (p as { address: string }).address = `127.0.0.1:${a.port}`;
  t.teardown(() => p.close());
  return p;
}
