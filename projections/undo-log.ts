/**
 * Undo records: for each apply position n, which rows the entry at n created: rows of the
 * sub-databases whose rows are only ever added (a directory's changes and listings, content
 * versions) and versioned rows that had never been there (history.ts keeps no row for them). Rewinding the projections to a position n0 (when an entry arrives that
 * sorts before entries already applied) drops the rows the records after n0 name; versioned
 * rows and the touches index are keyed by position first, so their rows after n0 are a range
 * and rewind themselves (history.ts, touches.ts: registered here as rewindables). The entries
 * are then applied again in the one order. Only the tail is touched, never the whole log.
 *
 *   undo: n -> TAG JSON [["c\0DB", [KEY, ...]], ...]    TAG 0: as is; TAG 1: deflated
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
/** Records up to this many bytes of JSON are kept as they are. */
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
      const groups = [...this.#current].map(([group, keys]) => [group, [...keys]]);
      const json = JSON.stringify(groups);
      this.db.putSync(n, encodeRecord(json));
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
      const groups = JSON.parse(decodeRecord(value)) as Array<[string, string[]]>;
      for (const [group, keys] of groups) {
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

/** A record's bytes: its JSON behind a tag, deflated past SMALL bytes. */
function encodeRecord(json: string): Buffer {
  const length = Buffer.byteLength(json);
  if (length <= SMALL) {
    const b = Buffer.allocUnsafe(1 + length);
    b[0] = RAW;
    b.write(json, 1);
    return b;
  }
  return Buffer.concat([Buffer.of(DEFLATED), deflateRawSync(json, length > BIG ? DEFLATE_BIG : DEFLATE)]);
}

function decodeRecord(value: Uint8Array): string {
  const body = Buffer.from(value.buffer, value.byteOffset + 1, value.byteLength - 1);
  return (value[0] === RAW ? body : inflateRawSync(body)).toString('utf8');
}
