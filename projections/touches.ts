/**
 * Which events of which entry named a node: `realize history` lists the event kinds of every
 * version, and reading them from the log meant decoding one whole entry (often a thousand
 * events) per version. One row per entry, keyed by its position:
 *
 *   [n u32 BE] -> for each node the entry's events name (by `id` or `root`), its key
 *                 (history.ts keyBytes: an id as 17 bytes) and the kinds of those events, in
 *                 order, one letter each (entry-records.ts: packed in key order)
 *
 * A row per (entry, node) cost LMDB's node header and a 21-byte key each: more than its
 * letters. The versions `history` lists are the changes of the node's rows (their lists of
 * changes, history.ts); each version's kinds are one point read here and a scan of the row.
 * Rows are written at the end of the tree (LMDB's append mode: full pages); a rewind drops
 * the range after its position.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEventType } from '../log/index.js';
import type { CachedDb } from './cached-db.js';
import { appendRow, dropAfter, keyBytes, rowKey, type Rewindable } from './history.js';
import type { UndoLog } from './undo-log.js';
import { findRecord, packRecords } from './entry-records.js';

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

export class Touches implements Rewindable {
  readonly name = 'touches';
  readonly #rows: Database<Uint8Array, Buffer>;

  constructor(env: RootDatabase, undo: UndoLog) {
    this.#rows = env.openDB({ name: 'touches', keyEncoding: 'binary', encoding: 'binary' });
    undo.register(this);
  }

  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [];
  }

  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['touches', this.#rows as Database<unknown, Key>]];
  }

  /** Notes the events of the entry at position n (raw, as the log holds them) under the nodes they name. */
  record(events: readonly unknown[], n: number): void {
    let codes: Map<string, string> | null = null;
    for (const raw of events) {
      if (typeof raw !== 'object' || raw === null) continue;
      const ev = raw as { id?: unknown; root?: unknown; type?: unknown };
      const id = typeof ev.id === 'string' ? ev.id : typeof ev.root === 'string' ? ev.root : undefined;
      if (id === undefined) continue;
      codes ??= new Map();
      codes.set(id, (codes.get(id) ?? '') + code(ev.type));
    }
    if (codes === null) return;
    const records = [...codes].map(([id, c]) => ({ key: keyBytes(id), value: Buffer.from(c, 'utf8') }));
    appendRow(this.#rows, rowKey(n, Buffer.alloc(0)), packRecords(records));
  }

  #find(row: Uint8Array | undefined, kb: Buffer): string | undefined {
    return findRecord(row, kb)?.toString('utf8');
  }

  /** The event kinds of the entry at position n that named node `id` (empty: none did). */
  kindsAt(id: string, n: number): string[] {
    const c = this.#find(this.#rows.getBinaryFast(rowKey(n, Buffer.alloc(0))), keyBytes(id));
    return c === undefined ? [] : decodeKinds(c);
  }

  /** kindsAt for many positions of one node. */
  kindsAtEach(id: string, ns: readonly number[]): Map<number, string[]> {
    const kb = keyBytes(id);
    const key = Buffer.alloc(4);
    const out = new Map<number, string[]>();
    for (const n of ns) {
      key.writeUInt32BE(n, 0);
      const c = this.#find(this.#rows.getBinaryFast(key), kb);
      if (c !== undefined) out.set(n, decodeKinds(c));
    }
    return out;
  }

  /** Drops the rows after position n0 (inside a write transaction). */
  rewind(n0: number): void {
    dropAfter(this.#rows as Database<unknown, Buffer>, n0);
  }
}
