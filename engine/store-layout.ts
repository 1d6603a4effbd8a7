/**
 * Where a store keeps what. A store is a directory:
 *
 *   realize-store.json   marker and format version
 *   identity/secret-key  this peer's Ed25519 secret key (tweetnacl format, 64 bytes, mode 0600)
 *   identity/public-key  the public key, hex
 *   feeds/<feed>/        segment files of each feed held (log/)
 *   projections/         the LMDB environment (a cache: `realize log replay` rebuilds it)
 *   blocks/              content blocks by hash
 *   lock                 the pid of the process that holds the store open for writing
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export const STORE_FORMAT = 'realize-store';
export const STORE_VERSION = 1;

export interface StoreLayout {
  readonly root: string;
  readonly marker: string;
  readonly identityDir: string;
  readonly secretKey: string;
  readonly publicKey: string;
  readonly feeds: string;
  readonly projections: string;
  readonly blocks: string;
  readonly lock: string;
}

export function storeLayout(root: string): StoreLayout {
  return {
    root,
    marker: join(root, 'realize-store.json'),
    identityDir: join(root, 'identity'),
    secretKey: join(root, 'identity', 'secret-key'),
    publicKey: join(root, 'identity', 'public-key'),
    feeds: join(root, 'feeds'),
    projections: join(root, 'projections'),
    blocks: join(root, 'blocks'),
    lock: join(root, 'lock'),
  };
}

/** `--store`, else $REALIZE_STORE, else ~/.local/share/realize/default. */
export function defaultStorePath(env: NodeJS.ProcessEnv = process.env): string {
  return env['REALIZE_STORE'] || join(homedir(), '.local', 'share', 'realize', 'default');
}
