/**
 * Undo records: for each apply position n, which rows the entry at n created: rows of the
 * sub-databases whose rows are only ever added (a directory's changes and listings, content
 * versions) and versioned rows that had never been there (history.ts keeps no row for them). Rewinding the projections to a position n0 (when an entry arrives that
 * sorts before entries already applied) drops the rows the records after n0 name; versioned
 * rows and the touches index are keyed by position first, so their rows after n0 are a range
 * and rewind themselves (history.ts, touches.ts: registered here as rewindables). The entries
 * are then applied again in the one order. Only the tail is touched, never the whole log.
 *
 *   undo: n -> TAG BODY    TAG 0: as is; TAG 1: deflated
 *   BODY:   ([group length varint]["c\0DB" UTF-8][key count varint]([key length varint][key])...)...
 *   key:    [2][bytes] for a key of hex digits (an id, a binary key), [1][16 bytes][UTF-8 rest]
 *           for one led by an id, [0][UTF-8] for any other (keys read back as the same strings)
 *
 * (Keys were JSON strings: ids and hashes in hex, twice their bytes before deflating.)
 *
 * The record is grouped by sub-database; one above SMALL bytes is deflated, since the records
 * of every entry ever applied are kept. A small one (an entry of one mount operation: a few
 * keys) is kept as it is: deflating it cost about as much as the rest of its apply's JSON and
 * row writes (~45-55 us a record, most of it setting up zlib's state), for ~100 bytes saved.
 *
 * A rebuild into a scratch place (`realize log replay --check`) can skip the records: nothing
 * rewinds it, and should something want to, it can be rebuilt again. `floor` says from which
 * position on the records exist; a rewind below it is a rebuild (replay.ts integrate).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Database, RootDatabase } from 'lmdb';
import { readVarint, writeVarint } from './varint.js';

/** Something a rewind puts back: rows changed after position n0 (projection-set.ts). */
export interface Rewindable {
  rewind(n0: number): void;
}

/** c: a created row, dropped on undo (the only kind left: versioned rows rewind from their history). */
export type UndoKind = 'c';

/**
 * Fastest level and a small window and hash: setting up zlib's default state costs more
 * than compressing a one-operation record (25 -> 16 us for ~250 bytes, 1.5 -> 1.0 ms for 88 KB,
 * the same size out). Inflating needs no options: any window up to 32 KiB decodes.
 */
const DEFLATE = { level: 1, memLevel: 4, windowBits: 10 } as const;
/**
 * A big record (an entry of many creates) names each new node in two groups (its record and
 * its branch, in the same order): a window that reaches back over the first group writes the
 * second as a few long matches.
 */
const DEFLATE_BIG = { level: 1, memLevel: 8, windowBits: 15 } as const;
const BIG = 4096;
/** Records up to this many bytes are kept as they are. */
const SMALL = 512;
const RAW = 0;
const DEFLATED = 1;

export class UndoLog {
  readonly db: Database<Uint8Array, number>;
  readonly #meta: Database<number, string>;
  /** `${kind}\0${name}` -> the keys the entry being applied changed. */
  #current = new Map<string, Set<string>>();
  #recording = true;
  #floor: number;
  /** What keeps its own record of each entry's changes (versioned rows' history, touches): rewound by itself. */
  readonly #rewindables: Rewindable[] = [];

  constructor(env: RootDatabase) {
    this.db = env.openDB({ name: 'undo' });
    this.#meta = env.openDB({ name: 'undo-meta' });
    this.#floor = this.#meta.get('floor') ?? 0;
  }

  register(r: Rewindable): void {
    this.#rewindables.push(r);
  }

  get rewindables(): readonly Rewindable[] {
    return this.#rewindables;
  }

  /** The first position whose record is kept (0 or 1: every position's). */
  get floor(): number {
    return this.#floor;
  }

  /** Stops keeping records (a scratch rebuild); resume() keeps them again from position `from` on. */
  pause(): void {
    this.#recording = false;
    this.#current = new Map();
  }

  /** Keeps records again; positions before `from` have none (inside a write transaction). */
  resume(from: number): void {
    this.#recording = true;
    if (from > this.#floor) {
      this.#floor = from;
      this.#meta.putSync('floor', from);
    }
  }

  get recording(): boolean {
    return this.#recording;
  }

  /** Notes that the entry being applied changed row `key` of sub-database `name`. */
  touch(kind: UndoKind, name: string, key: string): void {
    if (!this.#recording) return;
    const group = `${kind}\0${name}`;
    let keys = this.#current.get(group);
    if (keys === undefined) this.#current.set(group, (keys = new Set()));
    keys.add(key);
  }

  /** Writes the record of the entry at n (inside the apply transaction). */
  seal(n: number): void {
    if (this.#current.size > 0) {
      this.db.putSync(n, encodeRecord(this.#current));
      this.#current = new Map();
    }
  }

  /** Drops every record (inside a write transaction). */
  clear(): void {
    this.db.clearSync();
    this.#meta.clearSync();
    this.#floor = 0;
    this.#current = new Map();
  }

  discard(): void {
    this.#current = new Map();
  }

  /** Every row changed after position n0, de-duplicated. */
  changedAfter(n0: number, head: number): Array<{ kind: UndoKind; name: string; key: string }> {
    const all = new Map<string, { kind: UndoKind; name: string; key: string }>();
    for (const { value } of this.db.getRange({ start: n0 + 1, end: head + 1 })) {
      for (const [group, keys] of decodeRecord(value)) {
        const [kind, name] = group.split('\0') as [UndoKind, string];
        for (const key of keys) all.set(`${group}\0${key}`, { kind, name, key });
      }
    }
    return [...all.values()];
  }

  dropAfter(n0: number, head: number): void {
    for (let n = n0 + 1; n <= head; n++) this.db.removeSync(n);
  }
}

const KEY_TEXT = 0;
const KEY_ID_LED = 1;
const KEY_HEX = 2;
const HEX_ONLY = /^(?:[0-9a-f]{2})+$/;
const HEX_LED = /^[0-9a-f]{32}/;

/** A key's bytes (see the file's comment): hex digits as bytes. */
function keyOut(key: string): Buffer {
  if (HEX_ONLY.test(key)) return Buffer.concat([Buffer.of(KEY_HEX), Buffer.from(key, 'hex')]);
  if (HEX_LED.test(key)) return Buffer.concat([Buffer.of(KEY_ID_LED), Buffer.from(key.slice(0, 32), 'hex'), Buffer.from(key.slice(32), 'utf8')]);
  return Buffer.concat([Buffer.of(KEY_TEXT), Buffer.from(key, 'utf8')]);
}

function keyIn(b: Buffer): string {
  if (b[0] === KEY_HEX) return b.toString('hex', 1);
  if (b[0] === KEY_ID_LED) return b.toString('hex', 1, 17) + b.toString('utf8', 17);
  return b.toString('utf8', 1);
}

/** A record's bytes: its groups behind a tag, deflated past SMALL bytes. */
function encodeRecord(groups: ReadonlyMap<string, ReadonlySet<string>>): Buffer {
  const parts: Buffer[] = [];
  let bytes = 0;
  for (const [group, keys] of groups) {
    const g = Buffer.from(group, 'utf8');
    parts.push(g);
    bytes += 20 + g.length;
    for (const key of keys) {
      const k = keyOut(key);
      parts.push(k);
      bytes += 10 + k.length;
    }
  }
  const body = Buffer.allocUnsafe(bytes);
  let at = 0;
  let i = 0;
  for (const keys of groups.values()) {
    const g = parts[i++]!;
    at = writeVarint(body, at, g.length);
    at += g.copy(body, at);
    at = writeVarint(body, at, keys.size);
    for (let k = 0; k < keys.size; k++) {
      const kb = parts[i++]!;
      at = writeVarint(body, at, kb.length);
      at += kb.copy(body, at);
    }
  }
  return tagged(body.subarray(0, at));
}

function tagged(body: Buffer): Buffer {
  if (body.length <= SMALL) return Buffer.concat([Buffer.of(RAW), body]);
  return Buffer.concat([Buffer.of(DEFLATED), deflateRawSync(body, body.length > BIG ? DEFLATE_BIG : DEFLATE)]);
}

function decodeRecord(value: Uint8Array): Array<[string, string[]]> {
  const raw = Buffer.from(value.buffer, value.byteOffset + 1, value.byteLength - 1);
  const body = value[0] === RAW ? raw : inflateRawSync(raw);
  const out: Array<[string, string[]]> = [];
  let at = 0;
  while (at < body.length) {
    const [glen, g] = readVarint(body, at);
    const group = body.toString('utf8', g, g + glen);
    let [count, k] = readVarint(body, g + glen);
    const keys: string[] = [];
    for (; count > 0; count--) {
      const [klen, kat] = readVarint(body, k);
      keys.push(keyIn(body.subarray(kat, kat + klen)));
      k = kat + klen;
    }
    out.push([group, keys]);
    at = k;
  }
  return out;
}
