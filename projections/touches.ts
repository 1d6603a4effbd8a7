/**
 * Which events of which entry named a node: `realize history` lists the event kinds of every
 * version, and reading them from the log meant decoding one whole entry (often a thousand
 * events) per version. One row per entry, keyed by its position:
 *
 *   [n u32 BE] -> the nodes the entry's events name (by `id` or `root`), in key order, each as
 *                 [key length u8][key (history.ts keyBytes: an id as 17 bytes)]
 *                 [kinds length varint][the kinds of those events, in order, one letter each]
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
    const rows: Array<{ key: Buffer; c: Buffer }> = [];
    let bytes = 0;
    for (const [id, c] of codes) {
      const key = keyBytes(id);
      // A key longer than a length byte says is no node id: its kinds are not kept.
      if (key.length > 255) continue;
      const kinds = Buffer.from(c, 'utf8');
      rows.push({ key, c: kinds });
      bytes += 1 + key.length + 5 + kinds.length;
    }
    rows.sort((a, b) => Buffer.compare(a.key, b.key));
    const out = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (const { key, c } of rows) {
      out[at++] = key.length;
      at += key.copy(out, at);
      let len = c.length;
      while (len >= 128) {
        out[at++] = (len & 127) | 128;
        len >>>= 7;
      }
      out[at++] = len;
      at += c.copy(out, at);
    }
    appendRow(this.#rows, rowKey(n, Buffer.alloc(0)), out.subarray(0, at));
  }

  /** The kinds (letters) of node key `kb` in an entry's row (undefined: the entry named it not). */
  #find(row: Uint8Array | undefined, kb: Buffer): string | undefined {
    if (row === undefined) return undefined;
    const buf = Buffer.from(row.buffer, row.byteOffset, row.byteLength);
    for (let at = 0; at < buf.length; ) {
      const klen = buf[at++]!;
      const cmp = buf.compare(kb, 0, kb.length, at, at + klen);
      at += klen;
      let len = 0;
      for (let scale = 1; ; scale *= 128) {
        const b = buf[at++]!;
        len += (b & 127) * scale;
        if (b < 128) break;
      }
      // Keys are in order: past where kb would be, it is not there.
      if (cmp === 0) return buf.toString('utf8', at, at + len);
      if (cmp > 0) return undefined;
      at += len;
    }
    return undefined;
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
