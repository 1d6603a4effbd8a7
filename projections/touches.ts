/**
 * Which events of which entry named a node: `realize history` lists the event kinds of every
 * version, and reading them from the log meant decoding one whole entry (often a thousand
 * events) per version. One row per (entry, node), keyed position first (history.ts keyBytes):
 *
 *   [n u32 BE][id] -> the kinds of the entry's events that name the node (by `id` or `root`),
 *                     in order, one letter each
 *
 * The versions `history` lists are the changes of the node's rows (their lists of changes,
 * history.ts); each version's kinds are one point read here. An entry's rows are written
 * together at the end of the tree in key order (LMDB's append mode: full pages); a rewind
 * drops the range after its position.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEventType } from '../log/index.js';
import type { CachedDb } from './cached-db.js';
import { appendRow, dropAfter, keyBytes, rowKey, type Rewindable } from './history.js';
import type { UndoLog } from './undo-log.js';

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
  readonly #rows: Database<string, Buffer>;

  constructor(env: RootDatabase, undo: UndoLog) {
    this.#rows = env.openDB({ name: 'touches', keyEncoding: 'binary' });
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
    const rows = [...codes].map(([id, c]) => ({ key: rowKey(n, keyBytes(id)), c }));
    rows.sort((a, b) => Buffer.compare(a.key, b.key));
    for (const { key, c } of rows) appendRow(this.#rows, key, c);
  }

  /** The event kinds of the entry at position n that named node `id` (empty: none did). */
  kindsAt(id: string, n: number): string[] {
    const c = this.#rows.get(rowKey(n, keyBytes(id)));
    return c === undefined ? [] : decodeKinds(c);
  }

  /** kindsAt for many positions of one node. */
  kindsAtEach(id: string, ns: readonly number[]): Map<number, string[]> {
    const kb = keyBytes(id);
    const out = new Map<number, string[]>();
    for (const n of ns) {
      const c = this.#rows.get(rowKey(n, kb));
      if (c !== undefined) out.set(n, decodeKinds(c));
    }
    return out;
  }

  /** Drops the rows after position n0 (inside a write transaction). */
  rewind(n0: number): void {
    dropAfter(this.#rows as Database<unknown, Buffer>, n0);
  }
}
