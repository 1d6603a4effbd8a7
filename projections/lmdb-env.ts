/**
 * The single owner of the LMDB environment that holds every projection. The environment is
 * a cache of the log: it is opened with noSync (a transaction costs ~10 µs instead of a
 * disk flush), survives a killed process intact, and is rebuilt from the log when it is
 * missing, behind, or ahead of what the log made durable (see checkpoint.ts).
 */
import { open, type RootDatabase } from 'lmdb';
import { ProjectionError } from './projection-error.js';

export interface LmdbEnvOptions {
  readonly readOnly?: boolean;
}

/** The environment's limits (a rebuild's writer thread opens it with the same). */
export const LMDB_MAX_DBS = 64;
export const LMDB_MAP_SIZE = 64 * 1024 * 1024 * 1024;

export function openLmdbEnv(path: string, opts: LmdbEnvOptions = {}): RootDatabase {
  try {
    return open({
      path,
      noSync: true,
      readOnly: opts.readOnly === true,
      // Read-only opens serve a filesystem that may refuse even the lock file.
      ...(opts.readOnly ? { noLock: true } : {}),
      maxDbs: LMDB_MAX_DBS,
      mapSize: LMDB_MAP_SIZE,
      remapChunks: false,
      // Objects as plain MessagePack maps (msgpackr's option, passed through; lmdb-js's types
      // omit it): without shared structures, records write each row's structure definition
      // inline, slower to encode and to decode and no smaller.
      ...({ useRecords: false } as object),
    });
  } catch (err) {
    throw new ProjectionError(opts.readOnly ? 'READ_ONLY' : 'CORRUPT', `cannot open the projections at ${path}: ${(err as Error).message}`, { cause: err });
  }
}
