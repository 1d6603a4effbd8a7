/**
 * The sync protocol's messages, carried one per sealed frame (spec/wire-format.md, "Messages").
 * Byte 0 is the type; control messages are canonical CBOR, bulk ones (entries, blocks) a
 * small binary layout so records and block contents travel without re-encoding.
 */
import { decodeCbor, encodeCanonical, parseFeedName, validArea, type CborValue } from '../../log/index.js';
import { SyncError } from './sync-error.js';

export const MSG = {
  HAVE: 1,
  ENTRIES: 2,
  ACK: 3,
  WANT_FROM: 4,
  WANT_BLOCKS: 5,
  BLOCKS: 6,
  NO_BLOCKS: 7,
  BYE: 8,
  CAUGHT_UP: 9,
  BLOCKS_CRC: 10,
} as const;

export const HASH_BYTES = 32;

/** feed name -> length. */
export type Lengths = ReadonlyArray<readonly [feed: string, length: number]>;

export type Message =
  /**
   * What the sender follows and holds (household feeds and feeds of the areas it follows);
   * `crcs`: it takes blocks with their records' CRCs (BLOCKS_CRC).
   */
  | { readonly type: 'have'; readonly follows: readonly string[]; readonly feeds: Lengths; readonly crcs?: boolean }
  /** Records [first, first + records.length) of `feed`. */
  | { readonly type: 'entries'; readonly feed: string; readonly first: number; readonly records: readonly Buffer[] }
  /** What the sender now holds of these feeds. */
  | { readonly type: 'ack'; readonly feeds: Lengths }
  /** Send `feed` again from entry `from` (the receiver lost its place). */
  | { readonly type: 'want-from'; readonly feed: string; readonly from: number }
  | { readonly type: 'want-blocks'; readonly hashes: readonly Buffer[] }
  /**
   * Blocks asked for; with `crcs` (BLOCKS_CRC, to a peer whose have said `crcs`), the CRC-32
   * of the raw record that stores each (spec/block-format.md), as the sender read it from its
   * own record.
   */
  | { readonly type: 'blocks'; readonly blocks: ReadonlyArray<readonly [hash: Buffer, data: Buffer]>; readonly crcs?: readonly number[] }
  /** Blocks asked for that the sender does not hold. */
  | { readonly type: 'no-blocks'; readonly hashes: readonly Buffer[] }
  /**
   * The sender holds everything the receiver had when the session began (its `have`) and
   * every block those entries name that the receiver could give.
   */
  | { readonly type: 'caught-up' }
  /** The sender is closing, and why. */
  | { readonly type: 'bye'; readonly code: string; readonly message: string };

function bad(why: string): never {
  throw new SyncError('PROTOCOL', `malformed message: ${why}`);
}

function control(type: number, value: CborValue): Buffer[] {
  return [Buffer.of(type), encodeCanonical(value)];
}

function checkFeed(name: unknown): string {
  if (typeof name !== 'string') bad('a feed name must be a string');
  try {
    parseFeedName(name);
  } catch {
    bad(`not a feed name: ${JSON.stringify(name).slice(0, 80)}`);
  }
  return name;
}

function checkCount(n: unknown): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) bad('a length must be a whole number');
  return n;
}

function lengths(v: unknown): Lengths {
  if (!Array.isArray(v)) bad('feed lengths must be a list');
  return v.map((p: unknown) => {
    if (!Array.isArray(p) || p.length !== 2) bad('a feed length is [name, length]');
    return [checkFeed(p[0]), checkCount(p[1])] as const;
  });
}

/** Encodes a message as the parts of one frame (concatenated by the channel). */
export function encodeMessage(m: Message): Buffer[] {
  switch (m.type) {
    case 'have':
      return control(MSG.HAVE, { follows: [...m.follows], feeds: m.feeds.map(([f, n]) => [f, n]), ...(m.crcs === true ? { crcs: true } : {}) });
    case 'ack':
      return control(MSG.ACK, m.feeds.map(([f, n]) => [f, n]));
    case 'want-from':
      return control(MSG.WANT_FROM, [m.feed, m.from]);
    case 'bye':
      return control(MSG.BYE, { code: m.code, message: m.message });
    case 'caught-up':
      return control(MSG.CAUGHT_UP, null);
    case 'entries': {
      const name = Buffer.from(m.feed, 'latin1');
      const head = Buffer.alloc(1 + 1 + name.byteLength + 8 + 4);
      head[0] = MSG.ENTRIES;
      head[1] = name.byteLength;
      name.copy(head, 2);
      head.writeBigUInt64BE(BigInt(m.first), 2 + name.byteLength);
      head.writeUInt32BE(m.records.length, 10 + name.byteLength);
      const parts: Buffer[] = [head];
      for (const r of m.records) {
        const len = Buffer.alloc(4);
        len.writeUInt32BE(r.byteLength);
        parts.push(len, r);
      }
      return parts;
    }
    case 'want-blocks':
    case 'no-blocks': {
      const head = Buffer.alloc(5);
      head[0] = m.type === 'want-blocks' ? MSG.WANT_BLOCKS : MSG.NO_BLOCKS;
      head.writeUInt32BE(m.hashes.length, 1);
      return [head, ...m.hashes];
    }
    case 'blocks': {
      const crcs = m.crcs;
      if (crcs !== undefined && crcs.length !== m.blocks.length) throw new SyncError('BAD_ARGUMENT', 'a CRC for each block');
      const head = Buffer.alloc(5);
      head[0] = crcs === undefined ? MSG.BLOCKS : MSG.BLOCKS_CRC;
      head.writeUInt32BE(m.blocks.length, 1);
      const parts: Buffer[] = [head];
      m.blocks.forEach(([hash, data], i) => {
        const len = Buffer.alloc(crcs === undefined ? 4 : 8);
        len.writeUInt32BE(data.byteLength);
        if (crcs !== undefined) len.writeUInt32BE(crcs[i]! >>> 0, 4);
        parts.push(hash, len, data);
      });
      return parts;
    }
  }
}

class Cursor {
  at = 0;
  constructor(readonly b: Buffer) {}
  need(n: number): void {
    if (this.at + n > this.b.byteLength) bad('it ends early');
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  end(): void {
    if (this.at !== this.b.byteLength) bad(`${this.b.byteLength - this.at} bytes left over`);
  }
}

function decodeControl(b: Buffer): unknown {
  try {
    return decodeCbor(b.subarray(1));
  } catch (err) {
    bad(`not CBOR (${(err as Error).message})`);
  }
}

function hashList(c: Cursor): Buffer[] {
  const n = c.u32();
  if (n * HASH_BYTES > c.b.byteLength) bad('more hashes announced than the frame holds');
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) out.push(c.bytes(HASH_BYTES));
  c.end();
  return out;
}

export function decodeMessage(b: Buffer): Message {
  switch (b[0]) {
    case MSG.HAVE: {
      const v = decodeControl(b) as { follows?: unknown; feeds?: unknown; crcs?: unknown };
      if (typeof v !== 'object' || v === null || !Array.isArray(v.follows)) bad('have needs follows and feeds');
      const follows = v.follows.map((a: unknown) => {
        if (typeof a !== 'string' || a === '' || !validArea(a)) bad('follows must be area names');
        return a;
      });
      return v.crcs === true ? { type: 'have', follows, feeds: lengths(v.feeds), crcs: true } : { type: 'have', follows, feeds: lengths(v.feeds) };
    }
    case MSG.ACK:
      return { type: 'ack', feeds: lengths(decodeControl(b)) };
    case MSG.WANT_FROM: {
      const v = decodeControl(b);
      if (!Array.isArray(v) || v.length !== 2) bad('want-from is [feed, from]');
      return { type: 'want-from', feed: checkFeed(v[0]), from: checkCount(v[1]) };
    }
    case MSG.BYE: {
      const v = decodeControl(b) as { code?: unknown; message?: unknown };
      if (typeof v !== 'object' || v === null || typeof v.code !== 'string' || typeof v.message !== 'string') bad('bye is {code, message}');
      return { type: 'bye', code: v.code.slice(0, 64), message: v.message.slice(0, 1000) };
    }
    case MSG.CAUGHT_UP:
      if (decodeControl(b) !== null) bad('caught-up carries nothing');
      return { type: 'caught-up' };
    case MSG.ENTRIES: {
      const c = new Cursor(b);
      c.at = 1;
      c.need(1);
      const nameLen = b[c.at++]!;
      const feed = checkFeed(c.bytes(nameLen).toString('latin1'));
      c.need(8);
      const first = b.readBigUInt64BE(c.at);
      c.at += 8;
      if (first > BigInt(Number.MAX_SAFE_INTEGER)) bad('sequence number out of range');
      const n = c.u32();
      if (n === 0 || n * 4 > b.byteLength) bad('bad entry count');
      const records: Buffer[] = [];
      for (let i = 0; i < n; i++) records.push(c.bytes(c.u32()));
      c.end();
      return { type: 'entries', feed, first: Number(first), records };
    }
    case MSG.WANT_BLOCKS:
    case MSG.NO_BLOCKS: {
      const c = new Cursor(b);
      c.at = 1;
      const hashes = hashList(c);
      return { type: b[0] === MSG.WANT_BLOCKS ? 'want-blocks' : 'no-blocks', hashes };
    }
    case MSG.BLOCKS:
    case MSG.BLOCKS_CRC: {
      const withCrc = b[0] === MSG.BLOCKS_CRC;
      const c = new Cursor(b);
      c.at = 1;
      const n = c.u32();
      if (n * (HASH_BYTES + (withCrc ? 8 : 4)) > b.byteLength) bad('more blocks announced than the frame holds');
      const blocks: Array<readonly [Buffer, Buffer]> = [];
      const crcs: number[] = [];
      for (let i = 0; i < n; i++) {
        const hash = c.bytes(HASH_BYTES);
        const len = c.u32();
        if (withCrc) crcs.push(c.u32());
        blocks.push([hash, c.bytes(len)]);
      }
      c.end();
      return withCrc ? { type: 'blocks', blocks, crcs } : { type: 'blocks', blocks };
    }
    default:
      bad(`unknown message type ${b[0]}`);
  }
}
