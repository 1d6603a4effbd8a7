/**
 * A sub-database whose superseded values are kept as history rows (history.ts, cached-db.ts),
 * so the projection can answer "as it was at position P" with an index lookup.
 */
import type { RootDatabase } from 'lmdb';
import { CachedDb } from './cached-db.js';
import { VersionHistory, type HistoryReader } from './history.js';
import { idKeyOptions } from './key-codec.js';
import { versionedEncoder, type ValueCodec } from './row-codec.js';
import type { UndoLog } from './undo-log.js';

/** The apply position of the entry being applied (1 for the first entry ever applied). */
export type PositionClock = () => number;

export interface VersionedDb<V> {
  readonly current: CachedDb<V, string>;
  /** The history rows: an overlay only in name (begun, flushed and cleared with the others; written by `past`). */
  readonly history: CachedDb<V | null, string>;
  readonly past: HistoryReader<V>;
}

/** What a projection needs to keep history and undo records: the apply position and the undo log. */
export interface Versioning {
  readonly position: PositionClock;
  readonly undo: UndoLog;
  /** Keep recently read current rows decoded (lmdb-js cache): true for a store that serves reads. */
  readonly readCache?: boolean;
}

/** `codec`: a compact encoding of the values (row-codec.ts); msgpack without one. */
export function versionedDb<V>(env: RootDatabase, name: string, versioning: Versioning, codec?: ValueCodec<V>): VersionedDb<V> {
  const encoder = codec === undefined ? {} : { encoder: versionedEncoder(codec) };
  const historyDb = env.openDB<unknown, Buffer>({ name: `${name}-history`, keyEncoding: 'binary', ...encoder });
  // Values in packed history rows: the sub-database's own encoding (msgpack's is a shared buffer: copied).
  const own = historyDb as unknown as { encoder: { encode(v: unknown): Uint8Array }; decoder?: { decode(b: Uint8Array): unknown } };
  const coder = codec === undefined ? { encode: (v: unknown) => own.encoder.encode(v), decode: (b: Uint8Array) => (own.decoder ?? (own.encoder as never as { decode(b: Uint8Array): unknown })).decode(b) } : versionedEncoder(codec);
  const bytes = { encode: (v: unknown): Uint8Array => Buffer.from(coder.encode(v)), decode: (b: Uint8Array): unknown => coder.decode(b) };
  const past = new VersionHistory<V>(historyDb, versioning.position, (key) => versioning.undo.touch('c', name, key), bytes, codec);
  // Keys led by a node id are stored as its 16 bytes (key-codec.ts).
  // Current rows are read on every FUSE request: lmdb-js keeps recently read ones decoded.
  const current = new CachedDb<V, string>(env.openDB({ name, cache: versioning.readCache !== false, ...idKeyOptions, ...encoder }), past);
  past.attach(current);
  versioning.undo.register(past);
  const history = new CachedDb<V | null, string>(historyDb as never);
  return { current, history, past };
}
