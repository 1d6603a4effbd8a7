/**
 * Which events of which entry named a node: `realize history PATH` lists the event kinds of
 * every version, and reading them from the log meant decoding one whole entry (often a
 * thousand events) per version. One row per (node, entry):
 *
 *   `${id}\0${n as 12 digits}` -> the kinds of the entry's events that name the node (by `id`
 *                                  or `root`), in order, one letter each
 *
 * so a node's whole history is one range read. Rows are only added; a rewind drops those
 * after its position (they are noted as created rows in the undo log).
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import type { FsEventType } from '../log/index.js';
import { CachedDb } from './cached-db.js';
import { historyKey } from './history.js';
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

export class Touches {
  readonly name = 'touches';
  readonly #rows: CachedDb<string, string>;

  constructor(env: RootDatabase, undo: UndoLog) {
    this.#rows = new CachedDb(env.openDB({ name: 'touches' }), null, { log: undo, name: 'touches', kind: 'c' });
  }

  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#rows as unknown as CachedDb<never, never>];
  }

  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [['touches', this.#rows.db as Database<unknown, Key>]];
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
    for (const [id, c] of codes) this.#rows.put(historyKey(id, n), c);
  }

  /** The event kinds of each entry that named node `id`, oldest first. */
  *of(id: string): Generator<{ n: number; kinds: string[] }> {
    const prefix = `${id}\0`;
    const out: Array<{ n: number; kinds: string[] }> = [];
    for (const { key, value } of this.#rows.getRange({ start: prefix, end: `${id}\x01` })) out.push({ n: Number(key.slice(prefix.length)), kinds: decodeKinds(value) });
    yield* out;
  }
}
