/**
 * History rows for as-of queries. A versioned sub-database NAME (versioned-db.ts) keeps:
 *
 *   NAME:           key -> [n, value, earlier?]   the current row: n, the position of its last
 *                                                  change; earlier, the positions of the changes
 *                                                  before it, newest first, as varint differences
 *   NAME-history:   [m u32 BE][bucket] -> ([key length varint][key][value length varint][value])...
 *                                                  for each row entry m changed, in key order, the
 *                                                  value it had just before (null: it was absent; a
 *                                                  row's first change has none: absent before it)
 *                   [0 u32][key] -> [r, null, earlier?]  a removed row's changes (r: the removal)
 *
 * An entry's history rows are packed by bucket (packed-rows.ts): a row per changed
 * value cost LMDB's 10 bytes of node header and slot and a 21-byte key besides its value.
 * The bucket is the first nibble of a hash of the key; a bucket past PACKED_BYTES is split in
 * four by the next two bits, and so on (its own row then holds nothing), so a point read is one point read (or a
 * few, in an entry of thousands of changes) of a row under 2 KB and a scan of its records.
 *
 * Keys are stored as bytes (keyBytes: ids of 32 hex digits as 16 bytes, inode numbers as 4). History rows are
 * keyed position first, so an entry's rows are written together at the end of the tree in
 * key order (LMDB's append mode: full pages, and only the last pages are touched), and the
 * rows an entry changed are one range: they are also its undo record (rewind() below; the
 * rows it created are noted in the undo log).
 *
 * "The row at position P": the current row when its last change is at or before P; else the
 * first change m after P (from the row's list of changes) and the history row [m][key]. Two
 * point reads, never a range read and never a replay.
 */
import type { Database } from 'lmdb';
import { hexDigitsAt } from '../log/index.js';
import { CachedDb, type HistorySink, type Stamped } from './cached-db.js';
import { applyDelta, DeltaOf, StoredDelta, type ValueCodec } from './row-codec.js';
import type { Rewindable } from './undo-log.js';
import { WrittenKeys } from './written-keys.js';
import { appendRow, packedRecords, readPacked, writePacked, type PackedRecord, type ValueBytes, keyHash } from './packed-rows.js';

export { appendRow, type ValueBytes } from './packed-rows.js';

export type { Rewindable } from './undo-log.js';

export const POSITION_DIGITS = 12;

let lastN = -1;
let lastPad = '';

export function pad(n: number): string {
  // Applying an entry pads the same position for every row it changes.
  if (n !== lastN) {
    lastN = n;
    lastPad = String(n).padStart(POSITION_DIGITS, '0');
  }
  return lastPad;
}

/**
 * The environment maps its file in chunks, and one read transaction can hold only so many
 * chunk references: some 1,500 range reads in one synchronous stretch over a large
 * environment fail with MDB_TXN_FULL. Range reads renew the shared read transaction every
 * RENEW_EVERY of them: rows at or before a position never change, so a fresher snapshot reads
 * the same past. A cursor still open pins the old transaction, so ranges are read to their
 * end before they yield.
 */
const RENEW_EVERY = 256;
let rangeReads = 0;

export function countRangeRead(db: Database<any, any>): void {
  if (++rangeReads < RENEW_EVERY) return;
  rangeReads = 0;
  db.resetReadTxn();
}

/** Compares keys the way LMDB orders them (UTF-8 bytes, i.e. code points). */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}

// ---- keys as bytes ----

const TAG_TEXT = 0;
const TAG_HEX = 1;
const TAG_INO = 2;

/**
 * A row key as bytes: a key led by 32 hex digits (a node id) as 1 + 16 bytes and the rest; one
 * led by an inode number (key-codec.ts inodeKey) as 2 + its 4 bytes and the rest; else 0 and its UTF-8.
 */
export function keyBytes(key: string): Buffer {
  if (hexDigitsAt(key, 0, 32)) {
    const rest = key.length - 32;
    const out = Buffer.allocUnsafe(17 + Buffer.byteLength(key) - 32);
    out[0] = TAG_HEX;
    out.write(key.slice(0, 32), 1, 16, 'hex');
    if (rest > 0) out.write(key.slice(32), 17, 'utf8');
    return out;
  }
  if (key.charCodeAt(0) === 1 && hexDigitsAt(key, 1, 8)) {
    const out = Buffer.allocUnsafe(5 + Buffer.byteLength(key) - 9);
    out[0] = TAG_INO;
    out.write(key.slice(1, 9), 1, 4, 'hex');
    if (key.length > 9) out.write(key.slice(9), 5, 'utf8');
    return out;
  }
  const out = Buffer.allocUnsafe(1 + Buffer.byteLength(key));
  out[0] = TAG_TEXT;
  out.write(key, 1, 'utf8');
  return out;
}

export function keyOfBytes(b: Uint8Array, from = 0): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf[from] === TAG_HEX) return buf.toString('hex', from + 1, from + 17) + buf.toString('utf8', from + 17);
  if (buf[from] === TAG_INO) return `\u0001${buf.toString('hex', from + 1, from + 5)}${buf.toString('utf8', from + 5)}`;
  return buf.toString('utf8', from + 1);
}

/** The history row of `key` at position m (m = 0: the row saying a removed key's changes). */
export function rowKey(m: number, key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + key.byteLength);
  out.writeUInt32BE(m, 0);
  out.set(key, 4);
  return out;
}

/** Marks archived changes in the position-0 region (after removed rows' keys, tagged 0 or 1). */
const ARCHIVE = 0xff;

/** Where older changes of a row with a long list go: [0 u32][0xff][key length u16][key][newest position u32]. */
function archiveKey(kb: Uint8Array, c1: number): Buffer {
  const out = Buffer.allocUnsafe(4 + 1 + 2 + kb.byteLength + 4);
  out.writeUInt32BE(0, 0);
  out[4] = ARCHIVE;
  out.writeUInt16BE(kb.byteLength, 5);
  out.set(kb, 7);
  out.writeUInt32BE(c1, 7 + kb.byteLength);
  return out;
}

/** Writes an entry's rows (by the latin1 of their key bytes) in key order at the end of the tree, and forgets them. */
export function appendPending<V>(db: Database<V, Buffer>, pending: Map<string, { key: Buffer; value: V }>): void {
  if (pending.size === 0) return;
  for (const k of [...pending.keys()].sort()) {
    const { key, value } = pending.get(k)!;
    appendRow(db, key, value);
  }
  pending.clear();
}

/** Drops the rows of every entry after position n0 (inside a write transaction). */
export function dropAfter(db: Database<unknown, Buffer>, n0: number): void {
  for (const key of [...db.getKeys({ start: rowKey(n0 + 1, Buffer.alloc(0)) })]) db.removeSync(key);
}

function positionOf(b: Uint8Array): number {
  return ((b[0]! << 24) >>> 0) + (b[1]! << 16) + (b[2]! << 8) + b[3]!;
}

// ---- lists of changes: varint differences, newest first ----

const NONE = new Uint8Array(0);

/** Reads a list's varint differences one at a time; `at` is where the next one starts. */
class ListReader {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}
  get done(): boolean {
    return this.at >= this.bytes.byteLength;
  }
  next(): number {
    let d = 0;
    let scale = 1;
    for (;;) {
      // Past the end reads as a last byte of 0: a cut list ends, it never loops.
      const b = this.bytes[this.at++] ?? 0;
      d += (b & 127) * scale;
      if (b < 128) return d;
      scale *= 128;
    }
  }
}

/** The list after a change at n on top of a row whose last change was `last` (with `earlier` before it). */
export function pushChange(n: number, last: number, earlier: Uint8Array | undefined): Uint8Array {
  let d = n - last;
  const head: number[] = [];
  while (d >= 128) {
    head.push((d % 128) | 128);
    d = Math.floor(d / 128);
  }
  head.push(d);
  const prev = earlier ?? NONE;
  const out = new Uint8Array(head.length + prev.byteLength);
  out.set(head, 0);
  out.set(prev, head.length);
  return out;
}

/** The change before `last` and the list before that one (undefined: `last` was the first). */
export function popChange(last: number, earlier: Uint8Array | undefined): { n: number; earlier: Uint8Array | undefined } | undefined {
  if (earlier === undefined || earlier.byteLength === 0) return undefined;
  const list = new ListReader(earlier);
  const d = list.next();
  const rest = list.done ? undefined : Uint8Array.prototype.slice.call(earlier, list.at);
  return { n: last - d, earlier: rest };
}

/** Every change position, newest first. */
export function positions(last: number, earlier: Uint8Array | undefined): number[] {
  const out = [last];
  if (earlier === undefined) return out;
  let m = last;
  for (const list = new ListReader(earlier); !list.done; ) out.push((m -= list.next()));
  return out;
}

/**
 * Long lists decoded once (oldest first): a row read again comes from lmdb-js's cache of
 * decoded rows as the same object, so its list is searched, not walked, the next time.
 */
const decoded = new WeakMap<Uint8Array, number[]>();
const WALK_BYTES = 32;

/** Every position of a list, oldest first (decoded once per list object). */
function decodedPositions(last: number, earlier: Uint8Array): number[] {
  let ns = decoded.get(earlier);
  if (ns === undefined) decoded.set(earlier, (ns = positions(last, earlier).reverse()));
  return ns;
}

/** The first change after P (last > P): walks the list back while the change before is still after P. */
export function firstAfter(last: number, earlier: Uint8Array | undefined, p: number): number {
  let m = last;
  if (earlier === undefined) return m;
  if (earlier.byteLength > WALK_BYTES) {
    const ns = decodedPositions(last, earlier);
    // The first position above p (the last one is).
    let lo = 0;
    let hi = ns.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ns[mid]! > p) hi = mid;
      else lo = mid + 1;
    }
    return ns[lo]!;
  }
  for (const list = new ListReader(earlier); !list.done; ) {
    const d = list.next();
    if (m - d <= p) return m;
    m -= d;
  }
  return m;
}

/** How many decoded history rows a sub-database keeps at hand. */
const RECENT_ROWS = 4096;

/**
 * A current row keeps a bounded list (a directory changed by every create would otherwise
 * rewrite an ever longer row): once it holds MIN_ROW + CHUNK changes, its oldest CHUNK move to
 * an archive row, so a row keeps between MIN_ROW and MIN_ROW + CHUNK - 1 of its changes once it
 * has archived any. Which changes are archived depends only on how many there are, so undoing
 * the last change (a rewind) gives back exactly the rows applying in order gives. An as-of
 * read older than the changes a row keeps costs one range read more.
 */
export const CHUNK = 192;
export const MIN_ROW = 64;

/** How many changes a list holds (the last one and the differences before it). */
function countOf(earlier: Uint8Array | undefined): number {
  let c = 1;
  if (earlier !== undefined) for (let i = 0; i < earlier.byteLength; i++) if (earlier[i]! < 128) c++;
  return c;
}

/** Cuts a list after its newest `keep` changes: the kept differences, and the older part (newest c1, then its differences). */
function split(last: number, list: Uint8Array, keep: number): { kept: Uint8Array; c1: number; rest: Uint8Array } {
  const reader = new ListReader(list);
  let m = last;
  for (let k = 1; k < keep; k++) m -= reader.next();
  const kept = list.slice(0, reader.at);
  const c1 = m - reader.next();
  return { kept, c1, rest: list.slice(reader.at) };
}

/**
 * With a codec that writes deltas (row-codec.ts), a history row holds the superseded value as
 * its differences from the value that replaced it (the row's value after the entry), except
 * when the row then holds a multiple of KEYFRAME changes, or was removed: then it is whole.
 * Reading the value before change m walks the row's next changes up to a whole one (or to the
 * current row): at most KEYFRAME - 1 reads more (kept decoded: the next read near it costs
 * none). MIN_ROW and CHUNK are multiples of it, so archiving keeps the rule's count. On the
 * 1M-event bench whole records were over half of the node history rows at every fourth change.
 */
export const KEYFRAME = 8;

/** A removed row's changes: [r (the removal), null, earlier?]. */
type Gone = readonly [r: number, value: null, earlier?: Uint8Array];

/**
 * The history of one versioned sub-database: what the current rows' overlay (cached-db.ts)
 * tells it while entries are applied, the rewind, and the as-of reads.
 */
export class VersionHistory<V> implements HistorySink, Rewindable {
  readonly db: Database<unknown, Buffer>;
  readonly position: () => number;
  #current: CachedDb<V, string> | null = null;
  /** History rows of the entry being applied, by key (latin1 of the bytes): written in key order at seal. */
  /** History values of the entry being applied, by key (latin1 of the key bytes; `key`: the key bytes). */
  readonly #pending = new Map<string, { key: Buffer; value: V | null | DeltaOf<V>; name: string }>();
  /** Removed rows' lists changed in this batch (undefined: dropped), written at the end of the batch. */
  readonly #gone = new Map<string, { key: Buffer; value: Gone | undefined }>();
  /** Keys of gone rows written since the database was emptied (null: unknown, ask LMDB). */
  #goneKeys: WrittenKeys | null = null;
  /** The filter was filled from the stored keys (or found too many of them) since it was last forgotten. */
  #goneScanned = false;
  /**
   * Whether any row was ever removed (null: not known yet): some sub-databases never remove
   * rows (nodes and branches stay), and a new key then costs no read for its removed changes.
   */
  #anyGone: boolean | null = null;
  /**
   * History rows read lately, decoded (as lmdb-js keeps the current rows it read): a row at or
   * before the head never changes, except in a rewind or a clear, which forget them all.
   */
  readonly #recent = new Map<string, V | null>();
  /** Archived chunks read lately (by the position asked from and the key). */
  readonly #chunks = new Map<string, { c1: number; rest: Uint8Array } | undefined>();

  readonly #created: (key: string) => void;
  /** The values' codec, when it writes deltas (history rows then hold differences). */
  readonly #codec: ValueCodec<V> | null;
  /** Values as bytes in packed rows. */
  readonly #bytes: ValueBytes;

  /** `created`: notes a key that had no row before (the undo log drops it in a rewind: no history row says so). */
  constructor(db: Database<unknown, Buffer>, position: () => number, created: (key: string) => void, bytes: ValueBytes, codec?: ValueCodec<V>) {
    this.db = db;
    this.#bytes = bytes;
    this.position = position;
    this.#created = created;
    this.#codec = codec?.delta !== undefined ? codec : null;
  }

  attach(current: CachedDb<V, string>): void {
    this.#current = current;
  }

  // ---- while applying (HistorySink) ----

  #mayHaveGone(): boolean {
    if (this.#anyGone === null) {
      this.#anyGone = false;
      for (const _ of this.db.getKeys({ start: rowKey(0, Buffer.alloc(0)), end: rowKey(1, Buffer.alloc(0)), limit: 1 })) this.#anyGone = true;
    }
    return this.#anyGone;
  }

  #goneRow(key: string): Gone | undefined {
    if (!this.#mayHaveGone() && this.#gone.size === 0) return undefined;
    const kb = keyBytes(key);
    const k = kb.toString('latin1');
    const p = this.#gone.get(k);
    if (p !== undefined) return p.value;
    if (this.#goneKeys === null && !this.#goneScanned) this.#scanGone();
    if (this.#goneKeys !== null && !this.#goneKeys.mayHave(k)) return undefined;
    return (this.db.get(rowKey(0, kb)) as Gone | undefined) ?? undefined;
  }

  /**
   * The keys of removed rows, read once into the filter (a new name in a directory then costs
   * no LMDB read): once per process, and again after a rewind wrote around it.
   */
  #scanGone(): void {
    this.#goneScanned = true;
    const keys = new WrittenKeys();
    for (const k of this.db.getKeys({ start: rowKey(0, Buffer.alloc(0)), end: rowKey(0, Buffer.from([ARCHIVE])) })) {
      keys.add((k as Buffer).subarray(4).toString('latin1'));
      if (!keys.useful) return;
    }
    this.#goneKeys = keys;
  }

  #setGone(key: string, value: Gone | undefined): void {
    if (value !== undefined) this.#anyGone = true;
    const kb = keyBytes(key);
    const k = kb.toString('latin1');
    if (this.#goneKeys !== null) {
      this.#goneKeys.add(k);
      if (!this.#goneKeys.useful) this.#goneKeys = null;
    }
    this.#gone.set(k, { key: rowKey(0, kb), value });
  }

  /** The list after a change at n on top of `last` (and `earlier`), archiving its oldest CHUNK changes when it reaches MIN_ROW + CHUNK. */
  #push(key: string, n: number, last: number, earlier: Uint8Array | undefined): Uint8Array {
    const list = pushChange(n, last, earlier);
    if (list.byteLength + 1 < MIN_ROW + CHUNK || countOf(list) !== MIN_ROW + CHUNK) return list;
    const { kept, c1, rest } = split(n, list, MIN_ROW);
    this.db.putSync(archiveKey(keyBytes(key), c1), rest);
    this.#chunks.clear();
    return kept;
  }

  /** The archived chunk of `key` whose newest change is the first at or above `from` (undefined: none). */
  #chunkFrom(kb: Buffer, from: number): { c1: number; rest: Uint8Array } | undefined {
    const ck = `${from}\0${kb.toString('latin1')}`;
    if (this.#chunks.has(ck)) return this.#chunks.get(ck);
    countRangeRead(this.db);
    let out: { c1: number; rest: Uint8Array } | undefined;
    for (const { key, value } of this.db.getRange({ start: archiveKey(kb, from), end: archiveKey(kb, 0xffffffff), limit: 1 })) {
      out = { c1: (key as Buffer).readUInt32BE(key.length - 4), rest: value as Uint8Array };
    }
    if (this.#chunks.size >= RECENT_ROWS) this.#chunks.delete(this.#chunks.keys().next().value!);
    this.#chunks.set(ck, out);
    return out;
  }

  /** The first change after P of a row whose list is (last, earlier), archived changes included. */
  #firstAfter(key: string, last: number, earlier: Uint8Array | undefined, p: number): number {
    const m = firstAfter(last, earlier, p);
    if (earlier === undefined || earlier.byteLength + 1 < MIN_ROW) return m;
    const ns = decodedPositions(last, earlier);
    if (ns.length < MIN_ROW || m !== ns[0]) return m;
    // m is the oldest change the row keeps: an archived one may still be after P.
    const chunk = this.#chunkFrom(keyBytes(key), p + 1);
    return chunk === undefined ? m : firstAfter(chunk.c1, chunk.rest.byteLength > 0 ? chunk.rest : undefined, p);
  }

  /** Every change of a row, oldest first, archived ones included. */
  #allPositions(key: string, last: number, earlier: Uint8Array | undefined): number[] {
    const out: number[] = [];
    if (earlier !== undefined && earlier.byteLength + 1 >= MIN_ROW) {
      const kb = keyBytes(key);
      countRangeRead(this.db);
      for (const { key: k, value } of this.db.getRange({ start: archiveKey(kb, 0), end: archiveKey(kb, 0xffffffff) })) {
        const rest = value as Uint8Array;
        out.push(...positions((k as Buffer).readUInt32BE(k.length - 4), rest.byteLength > 0 ? rest : undefined).reverse());
      }
    }
    out.push(...positions(last, earlier).reverse());
    return out;
  }

  #superseded(key: string, _n: number, prev: V | null): void {
    const kb = keyBytes(key);
    this.#pending.set(kb.toString('latin1'), { key: kb, value: prev, name: key });
  }

  /** The current row `key` now holds `value` (prev: its stored row): returns the row to store. */
  put(key: string, value: V, prev: Stamped<V> | undefined): Stamped<V> {
    const n = this.position();
    if (prev !== undefined) {
      if (prev[0] === n) return prev[2] === undefined ? [n, value] : [n, value, prev[2]];
      this.#superseded(key, n, prev[1]);
      return [n, value, this.#push(key, n, prev[0], prev[2])];
    }
    const g = this.#goneRow(key);
    if (g === undefined) {
      // A row's first change: before it, the row was absent (its list says so), so it costs no history row.
      this.#created(key);
      return [n, value];
    }
    this.#setGone(key, undefined);
    if (g[0] === n) return g[2] === undefined ? [n, value] : [n, value, g[2]];
    this.#superseded(key, n, null);
    return [n, value, this.#push(key, n, g[0], g[2])];
  }

  /** The current row `key` (stored as `prev`) is removed. */
  remove(key: string, prev: Stamped<V>): void {
    const n = this.position();
    if (prev[0] === n) {
      this.#setGone(key, prev[2] === undefined ? [n, null] : [n, null, prev[2]]);
      return;
    }
    this.#superseded(key, n, prev[1]);
    this.#setGone(key, [n, null, this.#push(key, n, prev[0], prev[2])]);
  }

  /** The entry at n is applied: its history rows go to the end of the tree, in key order. */
  seal(n: number): void {
    if (this.#codec !== null) {
      for (const p of this.#pending.values()) {
        if (p.value === null) continue;
        // The row's value after the entry: what the superseded one is written against.
        const now = this.#current!.stamped(p.name);
        if (now !== undefined && countOf(now[2]) % KEYFRAME !== 0) p.value = new DeltaOf(p.value as V, now[1]);
      }
    }
    if (this.#pending.size === 0) return;
    const records: PackedRecord[] = [];
    for (const k of [...this.#pending.keys()].sort()) {
      const { key, value } = this.#pending.get(k)!;
      records.push({ kb: key, vb: this.#bytes.encode(value), h: keyHash(key) });
    }
    this.#pending.clear();
    writePacked(this.db, n, records);
  }

  /** The stored history value of key bytes `kb` at entry m (undefined: the entry did not change the row). */
  #stored(m: number, kb: Buffer): V | null | StoredDelta | undefined {
    const vb = readPacked((key) => this.db.get(key) as Uint8Array | undefined, m, kb);
    return vb === undefined ? undefined : (this.#bytes.decode(vb) as V | null | StoredDelta);
  }

  flush(): void {
    for (const { key, value } of this.#gone.values()) {
      if (value === undefined) this.db.removeSync(key);
      else this.db.putSync(key, value);
    }
    this.#gone.clear();
  }

  discard(): void {
    this.#pending.clear();
    this.#gone.clear();
    this.#recent.clear();
    this.#chunks.clear();
    this.#anyGone = null;
  }

  markEmpty(): void {
    this.#goneKeys = new WrittenKeys();
    this.#anyGone = false;
    this.#recent.clear();
    this.#chunks.clear();
  }

  forgetEmpty(): void {
    this.#goneKeys = null;
    this.#goneScanned = false;
  }

  // ---- rewind ----

  /**
   * Puts every row back as it was at position n0 (inside a write transaction, around the
   * overlays): the history rows after n0, newest first, each restore the value before its
   * change and drop that change from the row's list.
   */
  /** The change before `last` and the list before it, taking the newest archived chunk back when the row is down to MIN_ROW changes. */
  #pop(key: string, last: number, earlier: Uint8Array | undefined): { n: number; earlier: Uint8Array | undefined } | undefined {
    if (countOf(earlier) !== MIN_ROW) return popChange(last, earlier);
    const oldest = positions(last, earlier).at(-1)!;
    const kb = keyBytes(key);
    let chunk: { key: Buffer; c1: number; rest: Uint8Array } | undefined;
    for (const { key: k, value } of this.db.getRange({ start: archiveKey(kb, oldest), end: archiveKey(kb, 0), reverse: true, limit: 1 })) {
      chunk = { key: k as Buffer, c1: (k as Buffer).readUInt32BE(k.length - 4), rest: value as Uint8Array };
    }
    if (chunk === undefined) return popChange(last, earlier);
    this.db.removeSync(chunk.key);
    this.#chunks.clear();
    // The whole list as it was before the chunk was archived, less its newest change.
    const whole = Buffer.concat([earlier ?? new Uint8Array(0), pushChange(oldest, chunk.c1, chunk.rest.byteLength > 0 ? chunk.rest : undefined)]);
    return popChange(last, whole);
  }

  rewind(n0: number): void {
    this.#recent.clear();
    this.#chunks.clear();
    this.#anyGone = null;
    const current = this.#current!.db as unknown as Database<unknown, string>;
    const stored = [...this.db.getRange({ start: rowKey(n0 + 1, Buffer.alloc(0)) })];
    const rows: Array<{ n: number; key: string; raw: unknown }> = [];
    for (const { key: hk, value } of stored) {
      const n = positionOf(hk);
      for (const { kb, vb } of packedRecords(value as Uint8Array)) rows.push({ n, key: keyOfBytes(kb), raw: this.#bytes.decode(vb) });
    }
    for (const { key } of stored) this.db.removeSync(key);
    for (let i = rows.length - 1; i >= 0; i--) {
      const { n, key, raw } = rows[i]!;
      const goneKey = rowKey(0, keyBytes(key));
      const cur = current.get(key) as Stamped<V> | undefined;
      const state = cur ?? (this.db.get(goneKey) as Gone | undefined);
      const before = state === undefined || state[0] !== n ? undefined : this.#pop(key, n, state[2]);
      // A delta is against the row's value after entry n: the current row, as the later entries are undone.
      const value = raw instanceof StoredDelta ? this.#whole(raw, cur?.[1]) : raw;
      if (value === null || value === undefined) {
        current.removeSync(key);
        if (before === undefined) this.db.removeSync(goneKey);
        else this.db.putSync(goneKey, before.earlier === undefined ? [before.n, null] : [before.n, null, before.earlier]);
      } else {
        this.db.removeSync(goneKey);
        const from = before?.n ?? 0;
        current.putSync(key, before?.earlier === undefined ? [from, value] : [from, value, before.earlier]);
      }
    }
  }

  // ---- as-of reads ----

  /** A delta applied to the value that replaced it. */
  #whole(d: StoredDelta, after: V | null | undefined): V {
    if (this.#codec === null || after === null || after === undefined) throw new Error('a history row holds a delta with no value to apply it to');
    return applyDelta(this.#codec, d, after);
  }

  /**
   * The history row of `key` at position m: the value just before entry m changed it (null:
   * absent). `last`, `earlier`: the row's changes; `now`: its current value (undefined: removed).
   */
  #row(key: string, m: number, last: number, earlier: Uint8Array | undefined, now: V | undefined): V | null | undefined {
    const k = `${m}\0${key}`;
    const hit = this.#recent.get(k);
    if (hit !== undefined) return hit;
    const raw = this.#stored(m, keyBytes(key));
    if (raw === undefined) return undefined;
    let v: V | null;
    if (raw instanceof StoredDelta) {
      // Against the value after m: the current one, or the one before the next change.
      const after = m === last ? now : this.#row(key, this.#firstAfter(key, last, earlier, m), last, earlier, now);
      v = this.#whole(raw, after);
    } else v = raw;
    if (this.#recent.size >= RECENT_ROWS) this.#recent.delete(this.#recent.keys().next().value!);
    this.#recent.set(k, v);
    return v;
  }

  #goneStored(key: string): Gone | undefined {
    // Not #mayHaveGone(): a reader beside the writer (a mount --at) would not see new removals.
    return (this.db.get(rowKey(0, keyBytes(key))) as Gone | undefined) ?? undefined;
  }

  /** The value the row had after applying entries up to position P (undefined: absent). */
  at(key: string, p: number): V | undefined {
    const now = this.#current!.stamped(key);
    if (now !== undefined) {
      if (now[0] <= p) return now[1];
      return this.#row(key, this.#firstAfter(key, now[0], now[2], p), now[0], now[2], now[1]) ?? undefined;
    }
    const g = this.#goneStored(key);
    if (g === undefined || g[0] <= p) return undefined;
    return this.#row(key, this.#firstAfter(key, g[0], g[2], p), g[0], g[2], undefined) ?? undefined;
  }

  /** The positions of every change of the row, oldest first. */
  changePositions(key: string): number[] {
    const last = this.#current!.stamped(key) ?? this.#goneStored(key);
    return last === undefined ? [] : this.#allPositions(key, last[0], last[2]);
  }

  /** Every change of the row, oldest first: the position and the value it left (null: removed). */
  *changes(key: string): Generator<{ n: number; value: V | null }> {
    yield* this.#changes(key);
  }

  #changes(key: string): Array<{ n: number; value: V | null }> {
    const now = this.#current!.stamped(key);
    const g = now === undefined ? this.#goneStored(key) : undefined;
    const last = now ?? g;
    if (last === undefined) return [];
    const ns = this.#allPositions(key, last[0], last[2]);
    const out: Array<{ n: number; value: V | null }> = new Array(ns.length);
    // Every row of the key once, newest first (a delta is against the value after its change):
    // read directly (the kept rows are for point reads).
    const kb = keyBytes(key);
    let after: V | null = now !== undefined ? now[1] : null;
    for (let i = ns.length - 1; i >= 0; i--) {
      out[i] = { n: ns[i]!, value: after };
      if (i === 0) break;
      const raw = this.#stored(ns[i]!, kb);
      after = raw instanceof StoredDelta ? this.#whole(raw, after) : (raw ?? null);
    }
    return out;
  }

  /**
   * Every row of the sub-database and of its history, as lists to digest (digest.ts), with
   * keys named through `translate` (node ids for inode numbers: inode-table.ts), in an order
   * that depends on the names, not on the numbers: the current rows by key; the history
   * records (packed by a hash of their key bytes: the numbers') by position and key; removed
   * rows' changes and archived changes by key.
   */
  digestRows(translate: (key: string) => string): Array<readonly unknown[]> {
    const current: Array<readonly [string, unknown]> = [];
    for (const { key, value } of this.#current!.db.getRange()) current.push([translate(key as string), value]);
    current.sort((a, b) => compareKeys(a[0], b[0]));
    const past: Array<readonly [string, number, string, ...unknown[]]> = [];
    for (const { key, value } of this.db.getRange()) {
      const k = key as Buffer;
      const m = positionOf(k);
      if (m !== 0) {
        for (const { kb, vb } of packedRecords(value as Uint8Array)) past.push(['h', m, translate(keyOfBytes(kb)), Buffer.from(vb)]);
      } else if (k[4] === ARCHIVE) {
        const len = k.readUInt16BE(5);
        past.push(['a', k.readUInt32BE(7 + len), translate(keyOfBytes(k.subarray(7, 7 + len))), value]);
      } else past.push(['g', 0, translate(keyOfBytes(k, 4)), value]);
    }
    past.sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] !== b[1] ? a[1] - b[1] : compareKeys(a[2], b[2])));
    return [...current.map((r) => ['c', ...r] as const), ...past];
  }

  /** Removed keys that start with `prefix`, in key order. */
  #goneKeysWith(prefix: string): string[] {
    countRangeRead(this.db);
    const out: string[] = [];
    if (hexDigitsAt(prefix, 0, 32) || (prefix.charCodeAt(0) === 1 && hexDigitsAt(prefix, 1, 8))) {
      const pb = keyBytes(prefix);
      for (const k of this.db.getKeys({ start: rowKey(0, pb), end: rowKey(0, prefixEnd(pb)) })) out.push(keyOfBytes(k as Buffer, 4));
    } else {
      for (const k of this.db.getKeys({ start: rowKey(0, Buffer.alloc(0)), end: rowKey(0, Buffer.from([ARCHIVE])) })) {
        const key = keyOfBytes(k as Buffer, 4);
        if (key.startsWith(prefix)) out.push(key);
      }
      out.sort(compareKeys);
    }
    return out;
  }

  #currentWith(prefix: string): Array<{ key: string; value: Stamped<V> }> {
    countRangeRead(this.#current!.db);
    return [...this.#current!.getStampedRange({ start: prefix, ...textPrefixEnd(prefix) })];
  }

  /** Every change of every row whose key starts with `prefix`, in key order then oldest first. */
  *allChanges(prefix: string): Generator<{ key: string; n: number; value: V | null }> {
    const keys = [...this.#currentWith(prefix).map((r) => r.key), ...this.#goneKeysWith(prefix)].sort(compareKeys);
    for (const key of keys) for (const c of this.#changes(key)) yield { key, ...c };
  }

  /** The rows whose keys start with `prefix`, as they were at position P, in key order. */
  *rangeAt(prefix: string, p: number): Generator<[string, V]> {
    const out: Array<[string, V]> = [];
    for (const { key, value } of this.#currentWith(prefix)) {
      if (value[0] <= p) out.push([key, value[1]]);
      else {
        // The current row is in hand: only the history row of its first change after P is read.
        const v = this.#row(key, this.#firstAfter(key, value[0], value[2], p), value[0], value[2], value[1]);
        if (v !== undefined && v !== null) out.push([key, v]);
      }
    }
    for (const key of this.#goneKeysWith(prefix)) {
      const v = this.at(key, p);
      if (v !== undefined) out.push([key, v]);
    }
    out.sort((a, b) => compareKeys(a[0], b[0]));
    yield* out;
  }
}

/** The first byte string above every one that starts with `b`. */
function prefixEnd(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 255) {
      out[i]!++;
      return out.subarray(0, i + 1);
    }
  }
  return Buffer.from([255, 255, 255, 255]);
}

/**
 * The first key above every key that starts with `prefix` (keys sort by their UTF-8 bytes, so
 * `${prefix}\uffff` is not it: names with characters beyond U+FFFF sort after that).
 */
function textPrefixEnd(prefix: string): { end?: string } {
  if (prefix === '') return {};
  return { end: `${prefix.slice(0, -1)}${String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)}` };
}

/** As-of reads of a versioned sub-database (see VersionHistory). */
export type HistoryReader<V> = VersionHistory<V>;
