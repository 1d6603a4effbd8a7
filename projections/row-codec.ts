/**
 * Compact binary values for the rows there are most of: a node record is kept once per
 * node and once per superseded version, so its encoding is most of the index's size. The
 * default (msgpack) spells every field name in every row; this writes the fields in a fixed
 * order, ids of 32 hex digits as 16 bytes, integers as varints and the three times as two
 * differences from ctime (usually 0: one byte each). About a third of the msgpack size.
 *
 * A versioned sub-database holds four shapes (cached-db.ts, history.ts), told apart by the
 * first byte: 0 a bare value (a history row), 1 null (a history row: absent), 2 [n, value,
 * earlier?] (a current row: its last change, and the varint differences to the changes
 * before it), 3 [r, null, earlier?] (a removed row's changes), 4 bytes (archived changes),
 * 5 a delta (a history row: the superseded value's differences from the value that replaced
 * it, for codecs that have one; history.ts says which rows are kept whole).
 *
 * lmdb-js calls encode(value) -> Buffer and decode(buffer, end?) where the buffer may be a
 * reused one: decoding copies what it keeps (strings do).
 */
import type { ContentRow, DirentRow, HistoryRow, NodeKind, NodeRecord, NodeStatRow, VersionRow } from './rows.js';
import { writeVarint } from './varint.js';
import { isHexId } from '../log/index.js';
import { madeByVersionHash, versionHash } from './version-hash.js';

const MAX_VARINT_INT = 2 ** 50;

/** Nibble values of the lower-case hex digits (hexId: only ids isHexId accepts are written so). */
const NIBBLE = new Uint8Array(128);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i;

class Writer {
  buf = Buffer.allocUnsafe(128);
  pos = 0;

  #room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.#room(1);
    this.buf[this.pos++] = b;
  }

  uvarint(x: number): void {
    this.#room(10);
    this.pos = writeVarint(this.buf, this.pos, x);
  }

  /** Any number: an even varint for an integer of less than 2^50 (zigzag, doubled), else 1 and a float64. */
  num(x: number): void {
    if (Number.isInteger(x) && Math.abs(x) < MAX_VARINT_INT && !Object.is(x, -0)) {
      this.uvarint((x >= 0 ? x * 2 : -x * 2 - 1) * 2);
      return;
    }
    this.uvarint(1);
    this.#room(8);
    this.buf.writeDoubleLE(x, this.pos);
    this.pos += 8;
  }

  str(s: string): void {
    // Short ASCII (most names): its bytes are its chars and its length one varint byte,
    // written here without asking the native UTF-8 encoder for the length and the bytes.
    const n = s.length;
    if (n < 128) {
      this.#room(1 + n);
      const buf = this.buf;
      let p = this.pos + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 128) break;
        buf[p++] = c;
      }
      if (i === n) {
        buf[this.pos] = n;
        this.pos = p;
        return;
      }
    }
    const len = Buffer.byteLength(s);
    this.uvarint(len);
    this.#room(len);
    this.buf.write(s, this.pos, len, 'utf8');
    this.pos += len;
  }

  /** A string of 32 hex digits (isHexId) as its 16 bytes, written in place. */
  hexId(s: string): void {
    this.#room(16);
    // Two digits a byte from a table (isHexId said they are lower-case hex): a native
    // Buffer.write call per id cost more than the loop.
    const buf = this.buf;
    let p = this.pos;
    for (let i = 0; i < 32; i += 2) buf[p++] = (NIBBLE[s.charCodeAt(i)]! << 4) | NIBBLE[s.charCodeAt(i + 1)]!;
    this.pos = p;
  }

  bytes(b: Uint8Array): void {
    this.#room(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }

  done(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

class Reader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly end: number,
  ) {}

  byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  need(n: number): void {
    if (this.pos + n > this.end) throw new Error('row value cut short');
  }

  uvarint(): number {
    let x = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      x += (b & 127) * scale;
      if (b < 128) return x;
      scale *= 128;
    }
  }

  num(): number {
    const v = this.uvarint();
    if (v === 1) {
      this.need(8);
      const out = Buffer.from(this.buf.buffer, this.buf.byteOffset, this.end).readDoubleLE(this.pos);
      this.pos += 8;
      return out;
    }
    const z = v / 2;
    return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
  }

  str(): string {
    const len = this.uvarint();
    this.need(len);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, len).toString('utf8');
    this.pos += len;
    return s;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** n bytes, copied (the buffer may be reused). */
  copy(n: number): Buffer {
    this.need(n);
    const out = Buffer.allocUnsafe(n);
    out.set(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  hex(n: number): string {
    this.need(n);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n).toString('hex');
    this.pos += n;
    return s;
  }
}

/**
 * A reader over a fresh view of the value: lmdb-js hands over its reused buffer, whose
 * `length` it redefines per value, and indexing such an object is several times slower.
 */
function readerOf(buf: Uint8Array, end: unknown): Reader {
  const len = typeof end === 'number' ? end : buf.length;
  return new Reader(new Uint8Array(buf.buffer, buf.byteOffset, len), len);
}

export interface ValueCodec<V> {
  write(w: Writer, v: V): void;
  read(r: Reader): V;
  /**
   * A value written as its differences from another (history.ts: a superseded value against
   * the one that replaced it): write(before, after), and read(after) gives before back.
   */
  readonly delta?: {
    write(w: Writer, before: V, after: V): void;
    read(r: Reader, after: V): V;
  };
}

/** A superseded value to store as its differences from the value that replaced it (history.ts). */
export class DeltaOf<V> {
  constructor(
    readonly before: V,
    readonly after: V,
  ) {}
}

/** A stored delta, read back: apply it to the value that replaced it (applyDelta). */
export class StoredDelta {
  constructor(readonly bytes: Uint8Array) {}
}

export function applyDelta<V>(codec: ValueCodec<V>, d: StoredDelta, after: V): V {
  const r = new Reader(d.bytes, d.bytes.byteLength);
  const out = codec.delta!.read(r, after);
  if (r.pos !== r.end) throw new Error('row delta longer than its fields');
  return out;
}

const KINDS: readonly NodeKind[] = ['file', 'dir', 'symlink'];

// Flags of a node record.
const HAS_TARGET = 1;
const HAS_PARENT = 2;
const HEX_PARENT = 4;
const HAS_NAME = 8;
const RAW_ATIME = 16;
const RAW_MTIME = 32;

/** ctime - t as a varint when both are integers that stay exact, else undefined (t is written as is). */
function delta(t: number, ctime: number): number | undefined {
  if (!Number.isSafeInteger(t) || !Number.isSafeInteger(ctime)) return undefined;
  const d = t - ctime;
  return Math.abs(d) < MAX_VARINT_INT && d + ctime === t ? d : undefined;
}

// Which fields of a node record a delta holds (the others are the replacing record's).
const D_KIND = 1;
const D_MODE = 2;
const D_UID = 4;
const D_GID = 8;
const D_ATIME = 16;
const D_MTIME = 32;
const D_CTIME = 64;
const D_NLINK = 128;
const D_AREA = 256;
const D_TARGET = 512;
const D_PARENT = 1024;
const D_NAME = 2048;

// A time of the delta written as is (not as a difference: it would not come back exact).
const D_RAW_ATIME = 4096;
const D_RAW_MTIME = 8192;
const D_RAW_CTIME = 16384;

/** A time as its difference from `base` (a few bytes, 1 when equal) when that comes back exact (-0 does not). */
function timeDelta(t: number, base: number): number | undefined {
  return Object.is(t, -0) ? undefined : delta(t, base);
}

/** An optional text field: 0 absent, 1 and the text. */
function writeOptional(w: Writer, v: string | undefined): void {
  if (v === undefined) w.byte(0);
  else {
    w.byte(1);
    w.str(v);
  }
}

function readOptional(r: Reader): string | undefined {
  return r.byte() === 0 ? undefined : r.str();
}

/**
 * A superseded record against the one that replaced it: flags of the fields that differ, and
 * those fields; its ctime as the difference from the replacing one's, its atime and mtime from
 * its own ctime (as in the whole record: usually 0).
 */
const nodeDelta: NonNullable<ValueCodec<NodeRecord>['delta']> = {
  write(w, b, a) {
    const dc = timeDelta(b.ctime, a.ctime);
    const da = timeDelta(b.atime, b.ctime);
    const dm = timeDelta(b.mtime, b.ctime);
    let flags =
      (b.kind !== a.kind ? D_KIND : 0) | (!Object.is(b.mode, a.mode) ? D_MODE : 0) | (!Object.is(b.uid, a.uid) ? D_UID : 0) |
      (!Object.is(b.gid, a.gid) ? D_GID : 0) | (!Object.is(b.atime, a.atime) ? D_ATIME : 0) | (!Object.is(b.mtime, a.mtime) ? D_MTIME : 0) |
      (!Object.is(b.ctime, a.ctime) ? D_CTIME : 0) | (!Object.is(b.nlink, a.nlink) ? D_NLINK : 0) | (b.area !== a.area ? D_AREA : 0) |
      (b.target !== a.target ? D_TARGET : 0) | (b.parent !== a.parent ? D_PARENT : 0) | (b.name !== a.name ? D_NAME : 0);
    if (flags & D_ATIME && da === undefined) flags |= D_RAW_ATIME;
    if (flags & D_MTIME && dm === undefined) flags |= D_RAW_MTIME;
    if (flags & D_CTIME && dc === undefined) flags |= D_RAW_CTIME;
    w.uvarint(flags);
    if (flags & D_KIND) {
      const kind = KINDS.indexOf(b.kind);
      if (kind < 0) throw new Error(`node kind ${String(b.kind)}`);
      w.byte(kind);
    }
    if (flags & D_MODE) w.num(b.mode);
    if (flags & D_UID) w.num(b.uid);
    if (flags & D_GID) w.num(b.gid);
    if (flags & D_CTIME) w.num(flags & D_RAW_CTIME ? b.ctime : dc!);
    if (flags & D_ATIME) w.num(flags & D_RAW_ATIME ? b.atime : da!);
    if (flags & D_MTIME) w.num(flags & D_RAW_MTIME ? b.mtime : dm!);
    if (flags & D_NLINK) w.num(b.nlink);
    if (flags & D_AREA) w.str(b.area);
    if (flags & D_TARGET) writeOptional(w, b.target);
    if (flags & D_PARENT) {
      if (b.parent !== undefined && isHexId(b.parent)) {
        w.byte(2);
        w.hexId(b.parent);
      } else writeOptional(w, b.parent);
    }
    if (flags & D_NAME) writeOptional(w, b.name);
  },
  read(r, a) {
    const flags = r.uvarint();
    let kind = a.kind;
    if (flags & D_KIND) {
      kind = readKind(r);
    }
    const mode = flags & D_MODE ? r.num() : a.mode;
    const uid = flags & D_UID ? r.num() : a.uid;
    const gid = flags & D_GID ? r.num() : a.gid;
    let ctime = a.ctime;
    if (flags & D_CTIME) ctime = flags & D_RAW_CTIME ? r.num() : a.ctime + r.num();
    let atime = a.atime;
    if (flags & D_ATIME) atime = flags & D_RAW_ATIME ? r.num() : ctime + r.num();
    let mtime = a.mtime;
    if (flags & D_MTIME) mtime = flags & D_RAW_MTIME ? r.num() : ctime + r.num();
    const out: { -readonly [K in keyof NodeRecord]: NodeRecord[K] } = {
      kind, mode, uid, gid, atime, mtime, ctime,
      nlink: flags & D_NLINK ? r.num() : a.nlink,
      area: flags & D_AREA ? r.str() : a.area,
    };
    const target = flags & D_TARGET ? readOptional(r) : a.target;
    let parent = a.parent;
    if (flags & D_PARENT) {
      const tag = r.byte();
      parent = tag === 2 ? r.hex(16) : tag === 1 ? r.str() : undefined;
    }
    const name = flags & D_NAME ? readOptional(r) : a.name;
    if (target !== undefined) out.target = target;
    if (parent !== undefined) out.parent = parent;
    if (name !== undefined) out.name = name;
    return out;
  },
};


type StatHead = { -readonly [K in 'kind' | 'mode' | 'uid' | 'gid' | 'atime' | 'mtime' | 'ctime' | 'nlink']: NodeRecord[K] };

/** A node record's kind, its first byte. */
function readKind(r: Reader): NodeKind {
  const kind = KINDS[r.byte()];
  if (kind === undefined) throw new Error('bad node kind');
  return kind;
}

/**
 * A node record's fixed head after its kind and flags bytes (mode, owner, times, nlink: what
 * a stat shows), as a fresh object the caller completes (the record's area and the rest, or a
 * stat's targetBytes).
 */
function readRecordHead(r: Reader, kind: NodeKind, flags: number): StatHead {
  const mode = r.num();
  const uid = r.num();
  const gid = r.num();
  const ctime = r.num();
  const a = r.num();
  const m = r.num();
  const nlink = r.num();
  return { kind, mode, uid, gid, atime: flags & RAW_ATIME ? a : ctime + a, mtime: flags & RAW_MTIME ? m : ctime + m, ctime, nlink };
}

export const nodeRecordCodec: ValueCodec<NodeRecord> = {
  write(w, v) {
    const kind = KINDS.indexOf(v.kind);
    if (kind < 0) throw new Error(`node kind ${String(v.kind)}`);
    const da = delta(v.atime, v.ctime);
    const dm = delta(v.mtime, v.ctime);
    let flags = 0;
    if (v.target !== undefined) flags |= HAS_TARGET;
    if (v.parent !== undefined) flags |= HAS_PARENT | (isHexId(v.parent) ? HEX_PARENT : 0);
    if (v.name !== undefined) flags |= HAS_NAME;
    if (da === undefined) flags |= RAW_ATIME;
    if (dm === undefined) flags |= RAW_MTIME;
    w.byte(kind);
    w.byte(flags);
    w.num(v.mode);
    w.num(v.uid);
    w.num(v.gid);
    w.num(v.ctime);
    w.num(da ?? v.atime);
    w.num(dm ?? v.mtime);
    w.num(v.nlink);
    w.str(v.area);
    if (v.target !== undefined) w.str(v.target);
    if (v.parent !== undefined) {
      if (flags & HEX_PARENT) w.hexId(v.parent);
      else w.str(v.parent);
    }
    if (v.name !== undefined) w.str(v.name);
  },
  read(r) {
    const kind = readKind(r);
    const flags = r.byte();
    const out = readRecordHead(r, kind, flags) as { -readonly [K in keyof NodeRecord]: NodeRecord[K] };
    out.area = r.str();
    if (flags & HAS_TARGET) out.target = r.str();
    if (flags & HAS_PARENT) out.parent = flags & HEX_PARENT ? r.hex(16) : r.str();
    if (flags & HAS_NAME) out.name = r.str();
    return out;
  },
  delta: nodeDelta,
};

// Flags of a content row.
const HAS_VERSION = 1;
const HAS_LAST = 2;
/** The version is the hash of the row's size and blocks (committed, nothing pending since): not stored. */
const DERIVED_VERSION = 4;
/** `last` is "N.INDEX" or "N.INDEX.SUB" in canonical digits: stored as varints. */
const LAST_NUMBERS = 8;

/** The numbers of a `last` in LAST_NUMBERS form, as lastNumbers() read them (sub 0: none). */
const lastParts = [0, 0, 0];

/**
 * Reads `last` into lastParts when it is "N.INDEX" or "N.INDEX.SUB", each part canonical
 * digits (0, or 1-15 digits without a leading 0; SUB never 0); false otherwise. By hand: a
 * regular expression's match cost an array and three strings per content row written.
 */
function lastNumbers(last: string): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= last.length; i++) {
    const c = i < last.length ? last.charCodeAt(i) : 46;
    if (c === 46) {
      // '.' or the end: a part ends.
      if (digits === 0 || part > 2 || (part === 2 && value === 0)) return false;
      lastParts[part++] = value;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 48 || c > 57 || digits === 15 || (digits === 1 && value === 0)) return false;
    value = value * 10 + (c - 48);
    digits++;
  }
  if (part < 2) return false;
  if (part === 2) lastParts[2] = 0;
  return true;
}

/**
 * The position a content row's `last` starts with (`N.index[.sub]`): read by lastNumbers, no
 * substring made (a rebuild asks this at every write and commit); anything else as Number() reads it.
 */
export function lastPosition(last: string): number {
  return lastNumbers(last) ? lastParts[0]! : Number(last.slice(0, last.indexOf('.')));
}

/**
 * A committed branch, read back or made by a commit (content.ts): its version is the hash of its
 * size and blocks, made when first asked for (a stat's version or a write needs it; getattr,
 * reads, listings and a rebuild's commits do not: a rebuild hashed every commit). A class
 * with the getter on its prototype: defining a getter on each decoded object cost about 1.8 us a
 * row and left the object in dictionary mode. A spread of it does not copy `version`: content.ts
 * names it whenever it makes a row from one.
 */
export class CommittedRow implements ContentRow {
  #version: Uint8Array | undefined;
  constructor(
    readonly size: number,
    readonly blocks: Uint8Array,
    readonly pending: number,
    readonly commits: number,
    readonly last: string | undefined,
  ) {}

  get version(): Uint8Array {
    return (this.#version ??= versionHash(this.size, this.blocks));
  }
}

/**
 * A file's branch: size, block hashes (32 bytes each), its last version, counters, where its
 * last write came from. A committed branch (nothing pending) is always named by the hash of
 * its size and blocks (content.ts commit), so its version is left out and made again when read.
 */
export const contentRowCodec: ValueCodec<ContentRow> = {
  write(w, v) {
    // Only a version versionHash made is left out: a row put together by hand keeps its own. A
    // CommittedRow's version is its blocks' hash by construction: not made here to be left out.
    const derived = v.pending === 0 && (v instanceof CommittedRow || (v.version !== null && madeByVersionHash(v.version)));
    const numbers = v.last !== undefined && lastNumbers(v.last);
    // A derived version is not asked for (a CommittedRow would hash its blocks to answer).
    const stored = !derived && v.version !== null;
    w.byte((stored ? HAS_VERSION : 0) | (derived ? DERIVED_VERSION : 0) | (v.last !== undefined ? HAS_LAST : 0) | (numbers ? LAST_NUMBERS : 0));
    w.num(v.size);
    w.uvarint(v.blocks.byteLength);
    w.bytes(v.blocks);
    if (stored) {
      w.uvarint(v.version.byteLength);
      w.bytes(v.version);
    }
    w.num(v.pending);
    w.num(v.commits);
    if (numbers) {
      w.uvarint(lastParts[0]!);
      w.uvarint(lastParts[1]!);
      w.uvarint(lastParts[2]!);
    } else if (v.last !== undefined) w.str(v.last);
  },
  read(r) {
    const flags = r.byte();
    const size = r.num();
    const blocks = r.copy(r.uvarint());
    const version = flags & DERIVED_VERSION ? undefined : flags & HAS_VERSION ? r.copy(r.uvarint()) : null;
    const pending = r.num();
    const commits = r.num();
    let last: string | undefined;
    if (flags & LAST_NUMBERS) {
      const n = r.uvarint();
      const index = r.uvarint();
      const sub = r.uvarint();
      last = sub === 0 ? `${n}.${index}` : `${n}.${index}.${sub}`;
    } else if (flags & HAS_LAST) last = r.str();
    if (version === undefined) return new CommittedRow(size, blocks, pending, commits, last);
    return last === undefined ? { size, blocks, version, pending, commits } : { size, blocks, version, pending, commits, last };
  },
};

/** A kept content version (content.ts, keyed by its hash): its size and block hashes. */
export const versionRowCodec: ValueCodec<VersionRow> = {
  write(w, v) {
    w.num(v.size);
    w.uvarint(v.blocks.byteLength);
    w.bytes(v.blocks);
  },
  read(r) {
    const size = r.num();
    return { size, blocks: r.copy(r.uvarint()) };
  },
};

/** One commit of a file: the version it made, its size and time. */
export const commitRowCodec: ValueCodec<HistoryRow> = {
  write(w, v) {
    w.uvarint(v.version.byteLength);
    w.bytes(v.version);
    w.num(v.size);
    w.num(v.time);
  },
  read(r) {
    const version = r.copy(r.uvarint());
    return { version, size: r.num(), time: r.num() };
  },
};

/**
 * The commits one entry made of one file, in order. What the file's branch row says after
 * the entry is not repeated: the index of the first commit (the branch's commit count, less
 * these) and the last commit's version (the branch's version: only a commit changes it) are
 * taken from there (content.ts history). Read back, `first` is -1 and the last version empty.
 */
export interface EntryCommits {
  readonly first: number;
  readonly commits: readonly HistoryRow[];
}

const NO_VERSION = new Uint8Array(0);

/** Reused by entryCommitsBytes: a sealed entry notes the commits of each file it wrote. */
const commitsWriter = new Writer();

/**
 * An entry's commits with their times written less `base` (touches.ts: the earliest of its
 * row's), as entryCommitsCodec reads them, in a buffer reused by the next call: the caller
 * copies the bytes before it calls again.
 */
export function entryCommitsBytes(v: EntryCommits, base: number): Buffer {
  commitsWriter.pos = 0;
  writeEntryCommits(commitsWriter, v, base);
  return commitsWriter.done();
}

function writeEntryCommits(w: Writer, v: EntryCommits, base: number): void {
  w.uvarint(v.commits.length);
  // The first time less the base, the others as the difference from the one before.
  let time = base;
  for (let i = 0; i < v.commits.length; i++) {
    const c = v.commits[i]!;
    w.num(c.size);
    w.num(c.time - time);
    time = c.time;
    if (i < v.commits.length - 1) {
      w.uvarint(c.version.byteLength);
      w.bytes(c.version);
    }
  }
}

export const entryCommitsCodec: ValueCodec<EntryCommits> = {
  write(w, v) {
    // The first time as is, the others as the difference from the one before.
    writeEntryCommits(w, v, 0);
  },
  read(r) {
    const count = r.uvarint();
    const commits: HistoryRow[] = [];
    let time = 0;
    for (let i = 0; i < count; i++) {
      const size = r.num();
      time += r.num();
      const version = i < count - 1 ? r.copy(r.uvarint()) : NO_VERSION;
      commits.push({ version, size, time });
    }
    return { first: -1, commits };
  },
};

/** A node id (a directory entry's, an area's root): 32 hex digits as 0 and 16 bytes, else 1 and its UTF-8. */
export const nodeIdCodec: ValueCodec<string> = {
  write(w, v) {
    if (isHexId(v)) {
      w.byte(0);
      w.hexId(v);
    } else {
      w.byte(1);
      w.str(v);
    }
  },
  read(r) {
    return r.byte() === 0 ? r.hex(16) : r.str();
  },
};

/** The kinds of node a directory entry names, by their index in its tag (direntCodec). */
const DIRENT_KINDS: readonly NodeKind[] = ['file', 'dir', 'symlink'];

/**
 * A directory entry: the node it names and that node's kind (a node's kind never changes, and
 * is the same on every peer), so a listing's types (d_type) come from its entries alone. One
 * tag byte, 2 * kind + (0: the id's 32 hex digits as 16 bytes follow; 1: its UTF-8), then the id.
 */
export const direntCodec: ValueCodec<DirentRow> = {
  write(w, v) {
    const kind = DIRENT_KINDS.indexOf(v.kind);
    if (kind < 0) throw new Error(`a directory entry of unknown kind ${String(v.kind)}`);
    if (isHexId(v.id)) {
      w.byte(2 * kind);
      w.hexId(v.id);
    } else {
      w.byte(2 * kind + 1);
      w.str(v.id);
    }
  },
  read(r) {
    const tag = r.byte();
    const kind = DIRENT_KINDS[tag >> 1];
    if (kind === undefined) throw new Error(`a directory entry with tag ${tag}`);
    return { id: (tag & 1) === 0 ? r.hex(16) : r.str(), kind };
  },
};

/** An inode number and its generation (inode-table.ts). */
export const inodeRowCodec: ValueCodec<{ readonly ino: number; readonly gen: number }> = {
  write(w, v) {
    w.uvarint(v.ino);
    w.uvarint(v.gen);
  },
  read(r) {
    const ino = r.uvarint();
    return { ino, gen: r.uvarint() };
  },
};

// How a directory change names the node a name took.
const FREED = 0;
const HEX_NODE = 1;
const TEXT_NODE = 2;

/**
 * A directory's changes or listing (dir-listings.ts): [name, id | null, name, id | null, ...],
 * each name as UTF-8, each id of 32 hex digits as 16 bytes (null: the name was freed).
 */
export const nameListCodec: ValueCodec<Array<string | null>> = {
  write(w, v) {
    w.uvarint(v.length);
    for (let i = 0; i < v.length; i += 2) {
      w.str(v[i]!);
      const id = v[i + 1];
      if (id === null || id === undefined) w.byte(FREED);
      else if (isHexId(id)) {
        w.byte(HEX_NODE);
        w.hexId(id);
      } else {
        w.byte(TEXT_NODE);
        w.str(id);
      }
    }
  },
  read(r) {
    const n = r.uvarint();
    const out: Array<string | null> = [];
    for (let i = 0; i < n; i += 2) {
      out.push(r.str());
      const tag = r.byte();
      out.push(tag === FREED ? null : tag === HEX_NODE ? r.hex(16) : r.str());
    }
    return out;
  },
};

/**
 * A versioned row's stored bytes (versionedEncoder) positioned at its value, or null when the
 * row holds none a reader of raw bytes can take (removed, or a form only history rows take).
 */
function valueReader(buf: Uint8Array, end: number): Reader | null {
  const r = readerOf(buf, end);
  const tag = r.byte();
  if (tag === STAMPED) {
    r.uvarint();
    r.skip(r.uvarint());
    return r;
  }
  return tag === BARE ? r : null;
}

/**
 * What a stat shows of a node, taken from its current record's stored bytes (`end` of them)
 * without decoding the rest (its area, parent and name, its list of changes): undefined when
 * the bytes hold no record. `targetBytes`: a symlink's size (its target's UTF-8 length).
 */
export function readNodeStat(buf: Uint8Array, end: number): NodeStatRow | undefined {
  const r = valueReader(buf, end);
  if (r === null) return undefined;
  const kind = readKind(r);
  const flags = r.byte();
  const out = readRecordHead(r, kind, flags) as { -readonly [K in keyof NodeStatRow]: NodeStatRow[K] };
  out.targetBytes = 0;
  if (flags & HAS_TARGET) {
    r.skip(r.uvarint()); // the area
    out.targetBytes = r.uvarint();
  }
  return out;
}

/** A file's size, taken from its current branch row's stored bytes (`end` of them); undefined when they hold none. */
export function readContentSize(buf: Uint8Array, end: number): number | undefined {
  const r = valueReader(buf, end);
  if (r === null) return undefined;
  r.byte(); // flags
  return r.num();
}

/**
 * lmdb-js passes this in `encode`'s mode when the value is written before put() returns (inside a
 * write transaction: putSync). The value may then be written into one buffer shared by every
 * encoder, handed over with `start` and `end` (lmdb-js's own protocol for msgpackr's reused
 * buffer), instead of a fresh Buffer and a view of it per row: a rebuild writes some 50,000 rows.
 * Any other caller (an asynchronous put, a direct encode) gets a fresh buffer.
 */
const RESET_BUFFER_MODE = 1024;
const shared = new Writer();

/** The writer for one value: the shared one when lmdb-js writes the value at once. */
function writerFor(mode: unknown): Writer {
  if (typeof mode === 'number' && (mode & RESET_BUFFER_MODE) !== 0) {
    shared.pos = 0;
    return shared;
  }
  return new Writer();
}

/** The value written: the shared buffer with its bounds, or a view of a fresh one. */
function written(w: Writer): Buffer {
  if (w !== shared) return w.done();
  // lmdb-js reads from the start of the buffer's ArrayBuffer: a pooled Buffer lies at an offset in it.
  const b = w.buf as Buffer & { start: number; end: number };
  b.start = b.byteOffset;
  b.end = b.byteOffset + w.pos;
  return b;
}

/** Marks an lmdb-js encoder as one that takes encode's mode (write.js: `copyBuffers` says so). */
function reusing<E extends object>(e: E): E {
  Object.defineProperty(e, 'copyBuffers', { value: true });
  return e;
}

/** The lmdb-js encoder of a plain (not versioned) sub-database whose values `codec` writes. */
export function plainEncoder<V>(codec: ValueCodec<V>): { encode(v: V, mode?: number): Buffer; decode(buf: Uint8Array, end?: unknown): V } {
  return reusing({
    encode(v: V, mode?: number): Buffer {
      const w = writerFor(mode);
      codec.write(w, v);
      return written(w);
    },
    decode(buf: Uint8Array, end?: unknown): V {
      const r = readerOf(buf, end);
      const out = codec.read(r);
      if (r.pos !== r.end) throw new Error('row value longer than its fields');
      return out;
    },
  });
}

const BARE = 0;
const NULL = 1;
const STAMPED = 2;
const GONE = 3;
const RAW = 4;
const DELTA = 5;

/** The lmdb-js encoder of a versioned sub-database whose values `codec` writes. */
export function versionedEncoder<V>(codec: ValueCodec<V>): { encode(v: unknown, mode?: number): Buffer; decode(buf: Uint8Array, end?: unknown): unknown } {
  return reusing({
    encode(v: unknown, mode?: number): Buffer {
      const w = writerFor(mode);
      if (v === null) w.byte(NULL);
      else if (v instanceof Uint8Array) {
        w.byte(RAW);
        w.bytes(v);
      } else if (v instanceof DeltaOf) {
        w.byte(DELTA);
        codec.delta!.write(w, v.before as V, v.after as V);
      } else if (Array.isArray(v)) {
        const earlier = v[2] as Uint8Array | undefined;
        w.byte(v[1] === null ? GONE : STAMPED);
        w.uvarint(v[0] as number);
        w.uvarint(earlier?.byteLength ?? 0);
        if (earlier !== undefined) w.bytes(earlier);
        if (v[1] !== null) codec.write(w, v[1] as V);
      } else {
        w.byte(BARE);
        codec.write(w, v as V);
      }
      return written(w);
    },
    decode(buf: Uint8Array, end?: unknown): unknown {
      const r = readerOf(buf, end);
      const tag = r.byte();
      let out: unknown;
      if (tag === NULL) out = null;
      else if (tag === STAMPED || tag === GONE) {
        const n = r.uvarint();
        const len = r.uvarint();
        const earlier = len > 0 ? r.copy(len) : undefined;
        const value = tag === GONE ? null : codec.read(r);
        out = earlier === undefined ? [n, value] : [n, value, earlier];
      } else if (tag === BARE) out = codec.read(r);
      else if (tag === RAW) out = r.copy(r.end - r.pos);
      else if (tag === DELTA) out = new StoredDelta(r.copy(r.end - r.pos));
      else throw new Error(`bad row tag ${tag}`);
      if (r.pos !== r.end) throw new Error('row value longer than its fields');
      return out;
    },
  });
}
