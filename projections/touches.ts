/**
 * Which events of which entry named a node: `realize history` lists the event kinds of every
 * version, and reading them from the log meant decoding one whole entry (often a thousand
 * events) per version. An entry's records are packed in rows by bucket (packed-rows.ts),
 * keyed by its position:
 *
 *   [n u32 BE][bucket] -> [base varint] then, for each node the entry's events name (by `id` or `root`)
 *                 whose key falls in the bucket, its key (its local inode number as a varint,
 *                 then its generation as another when not 0: inode-table.ts) and [kinds length
 *                 varint][the kinds of those events, in order, one letter each][notes], in key
 *                 order; the notes are what content.ts keeps per entry and
 *                 file (the commits it made: row-codec.ts EntryCommits), under the file the
 *                 commits were applied to (a conflict copy's record may have no kinds); the
 *                 commits' times are written less the base (the earliest of the row's, when
 *                 all are integers and not negative, else 0): a millisecond time took 7 bytes
 *
 * A row per (entry, node) cost LMDB's node header and a 21-byte key each: more than its
 * letters; and a node's 16-byte id was most of a record (17.1 MiB of the 1M-event bench's
 * index), where its inode number takes 1-5 bytes. Inode numbers are local (assigned in
 * arrival order, kept across rewinds), like the inode table: a node the entry named that has
 * none when the entry is sealed (never created) has no rows, so `history` never asks for it. The versions `history` lists are the changes of the node's rows (their lists of
 * changes, history.ts); each version's kinds are one point read here and a scan of the row.
 * Rows are written at the end of the tree (LMDB's append mode: full pages); a rewind drops
 * the range after its position. (One row per entry, its records behind sparse offsets, was
 * 5-6 KB on the 1M-event bench: two overflow pages each, a quarter of them empty.)
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEventType } from '../log/index.js';
import { type CachedDb, EntryRowsDb } from './cached-db.js';
import { dropAfter, type Rewindable } from './history.js';
import type { InodeRow } from './inode-table.js';
import type { UndoLog } from './undo-log.js';
import { findPacked, keyHash, packedRow, writePacked, type PackedRecord } from './packed-rows.js';
import { readVarint, writeVarint } from './varint.js';
import { entryCommitsBytes, entryCommitsCodec, plainEncoder, type EntryCommits } from './row-codec.js';

const CODES: Record<FsEventType, string> = {
  'area-create': 'A', create: 'c', mkdir: 'd', symlink: 's', link: 'l', write: 'w', truncate: 't', commit: 'C',
  rename: 'r', unlink: 'u', rmdir: 'D', setattr: 'a', setxattr: 'x', removexattr: 'X', 'famfs-alloc': 'f',
  'famfs-free': 'F', 'famfs-device': 'v', 'peer-add': 'p', 'peer-remove': 'P', placement: 'm',
};
const KINDS = new Map(Object.entries(CODES).map(([kind, code]) => [code, kind]));
/** A kind without a letter (an event that failed validation) is spelt out between these. */
const OPEN = '{';
const CLOSE = '}';

function code(type: unknown): string {
  const c = typeof type === 'string' ? CODES[type as FsEventType] : undefined;
  return c ?? `${OPEN}${String(type).replaceAll(CLOSE, '')}${CLOSE}`;
}

export function decodeKinds(codes: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < codes.length; i++) {
    if (codes[i] === OPEN) {
      const end = codes.indexOf(CLOSE, i);
      out.push(codes.slice(i + 1, end));
      i = end;
    } else out.push(KINDS.get(codes[i]!) ?? '?');
  }
  return out;
}

/** A value kept per (entry, node) in the entry's touches row (content.ts: the commits an entry made of a file). */
export interface EntryNotes<V> {
  /** What the entry being applied noted for `id` so far. */
  pending(id: string): V | undefined;
  /** Notes `value` for `id` in the entry being applied. */
  set(id: string, value: V): void;
  /** What entry n noted for `id`. */
  at(id: string, n: number): V | undefined;
}

interface PendingRecord {
  readonly id: string;
  kinds: string;
  /** The commits content.ts noted (encoded when the entry is sealed). */
  commits: EntryCommits | undefined;
}

const COMMITS = plainEncoder(entryCommitsCodec);

/** Where a sealed entry's records are written before they are packed (touches.ts #seal); grown as needed. */
const SCRATCH_BYTES = 64 * 1024;
const SCRATCH_KEPT = 1024 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

/** [kinds length varint][kinds in UTF-8] at `at` (room for 10 + 3 bytes a character); where it ends. */
function writeKinds(buf: Buffer, at: number, kinds: string): number {
  const n = kinds.length;
  let ascii = true;
  for (let i = 0; i < n; i++) if (kinds.charCodeAt(i) >= 128) ascii = false;
  if (!ascii) {
    const len = Buffer.byteLength(kinds);
    at = writeVarint(buf, at, len);
    return at + buf.write(kinds, at, len, 'utf8');
  }
  // One letter a kind (CODES): their bytes are their characters.
  at = writeVarint(buf, at, n);
  for (let i = 0; i < n; i++) buf[at++] = kinds.charCodeAt(i);
  return at;
}

/** Records in their keys' byte order. */
function byKey(a: PackedRecord, b: PackedRecord): number {
  const x = a.kb;
  const y = b.kb;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

export class Touches implements Rewindable {
  readonly name = 'touches';
  readonly #rows: Database<Uint8Array, Buffer>;
  /** The touches of the entry being applied, written when it is sealed. */
  readonly #entry: EntryRowsDb;
  /** The entry being applied: its records by key (latin1 of the key bytes). */
  readonly #pending = new Map<string, PendingRecord>();
  /** The commits each entry made of each file, kept in its records (content.ts). */
  readonly commits: EntryNotes<EntryCommits>;

  /** The local inode number of a node (inode-table.ts): what keys its records. */
  readonly #inoOf: (id: string) => InodeRow | undefined;

  constructor(env: RootDatabase, undo: UndoLog, inoOf: (id: string) => InodeRow | undefined) {
    this.#inoOf = inoOf;
    this.#rows = env.openDB({ name: 'touches', keyEncoding: 'binary', encoding: 'binary' });
    this.#entry = new EntryRowsDb(this.#rows, { seal: (n) => this.#seal(n), discard: () => this.#pending.clear() });
    undo.register(this);
    this.commits = {
      pending: (id) => this.#pending.get(id)?.commits,
      set: (id, value) => {
        this.#record(id).commits = value;
      },
      at: (id, n) => {
        const found = this.#find(id, n);
        if (found?.notes === undefined) return undefined;
        const v = COMMITS.decode(found.notes);
        return found.base === 0 ? v : { ...v, commits: v.commits.map((c) => ({ ...c, time: c.time + found.base })) };
      },
    };
  }

  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#entry];
  }

  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['touches', this.#rows as Database<unknown, Key>]];
  }

  #record(id: string): PendingRecord {
    let r = this.#pending.get(id);
    if (r === undefined) this.#pending.set(id, (r = { id, kinds: '', commits: undefined }));
    return r;
  }

  /** A node's key in the records: its inode number, and its generation when not 0 (undefined: it has none). */
  #keyOf(id: string): Buffer | undefined {
    const row = this.#inoOf(id);
    if (row === undefined) return undefined;
    const out = Buffer.allocUnsafe(20);
    let at = writeVarint(out, 0, row.ino);
    if (row.gen !== 0) at = writeVarint(out, at, row.gen);
    return out.subarray(0, at);
  }

  /** Notes the events of the entry at position n (raw, as the log holds them) under the nodes they name. */
  record(events: readonly unknown[], _n: number): void {
    // A node's events mostly come one after another (create, write, commit, setattr): its
    // record is looked up once for them, the ids compared instead of hashed.
    let lastId: string | undefined;
    let last: PendingRecord | undefined;
    for (const raw of events) {
      if (typeof raw !== 'object' || raw === null) continue;
      const ev = raw as { id?: unknown; root?: unknown; type?: unknown };
      const id = typeof ev.id === 'string' ? ev.id : typeof ev.root === 'string' ? ev.root : undefined;
      if (id === undefined) continue;
      if (id !== lastId) {
        lastId = id;
        last = this.#record(id);
      }
      last!.kinds += code(ev.type);
    }
  }

  /** The entry at n is applied: its records, each [kinds length varint][kinds][notes], as one row. */
  #seal(n: number): void {
    if (this.#pending.size === 0) return;
    let base = Infinity;
    for (const { commits } of this.#pending.values()) {
      for (const c of commits?.commits ?? []) base = Number.isSafeInteger(c.time) && c.time >= 0 ? Math.min(base, c.time) : -1;
      if (base < 0) break;
    }
    if (!(base >= 0 && base < Infinity)) base = 0;
    // Every record's key and value are written one after another into one scratch buffer (views
    // of it are written out below, before the next entry reuses it): a buffer or two per record
    // and a native call per key, kinds and notes cost more than the records themselves.
    let buf = scratch;
    let at = 0;
    const records: PackedRecord[] = [];
    for (const { id, kinds, commits } of this.#pending.values()) {
      // Every node the entry made has its number by now (the inode table applied its events).
      const row = this.#inoOf(id);
      if (row === undefined) continue;
      const notes = commits === undefined ? undefined : entryCommitsBytes(commits, base);
      const need = 30 + 3 * kinds.length + (notes?.byteLength ?? 0);
      if (at + need > buf.length) {
        buf = scratch = Buffer.allocUnsafe(Math.max(2 * buf.length, need));
        at = 0;
      }
      const k0 = at;
      at = writeVarint(buf, at, row.ino);
      if (row.gen !== 0) at = writeVarint(buf, at, row.gen);
      const kb = buf.subarray(k0, at);
      const v0 = at;
      at = writeKinds(buf, at, kinds);
      if (notes !== undefined) {
        buf.set(notes, at);
        at += notes.byteLength;
      }
      records.push({ kb, vb: buf.subarray(v0, at), h: keyHash(kb) });
    }
    this.#pending.clear();
    if (records.length === 0) return;
    // In key byte order.
    records.sort(byKey);
    const head = Buffer.allocUnsafe(10);
    writePacked(this.#rows, n, records, 0, head.subarray(0, writeVarint(head, 0, base)));
    // A huge entry's scratch is not kept past it (what the process holds stays bounded).
    if (scratch.length > SCRATCH_KEPT) scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  }

  /** The record of node key `kb` in entry n's row: its kinds and notes (undefined: none). */
  #findKey(kb: Uint8Array, n: number): { kinds: string; notes: Uint8Array | undefined; base: number } | undefined {
    const shared = packedRow((key) => this.#rows.getBinaryFast(key), n, kb);
    if (shared === undefined) return undefined;
    // `length`: the value's size in lmdb-js's shared read buffer (a fresh view indexes faster).
    const row = Buffer.from(shared.buffer, shared.byteOffset, shared.length);
    const [base, from] = readVarint(row, 0);
    const found = findPacked(row, kb, from, row.length);
    if (found === undefined) return undefined;
    const v = Buffer.from(found.buffer, found.byteOffset, found.byteLength);
    const [len, i] = readVarint(v, 0);
    const kinds = v.toString('utf8', i, i + len);
    // The notes are copied: the row read is lmdb-js's reused buffer.
    return { kinds, notes: i + len < v.length ? Buffer.from(v.subarray(i + len)) : undefined, base };
  }

  #find(id: string, n: number): { kinds: string; notes: Uint8Array | undefined; base: number } | undefined {
    const kb = this.#keyOf(id);
    return kb === undefined ? undefined : this.#findKey(kb, n);
  }

  /** The event kinds of the entry at position n that named node `id` (empty: none did). */
  kindsAt(id: string, n: number): string[] {
    const c = this.#find(id, n)?.kinds;
    return c === undefined ? [] : decodeKinds(c);
  }

  /** kindsAt for many positions of one node. */
  kindsAtEach(id: string, ns: readonly number[]): Map<number, string[]> {
    const kb = this.#keyOf(id);
    const out = new Map<number, string[]>();
    if (kb === undefined) return out;
    for (const n of ns) {
      const c = this.#findKey(kb, n)?.kinds;
      if (c !== undefined && c !== '') out.set(n, decodeKinds(c));
    }
    return out;
  }

  /** Drops the rows after position n0 (inside a write transaction). */
  rewind(n0: number): void {
    dropAfter(this.#rows as Database<unknown, Buffer>, n0);
  }
}
