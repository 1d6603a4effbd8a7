/**
 * Ephemeral X25519 key agreement through node:crypto, with raw 32-byte keys (RFC 7748).
 * A fresh key pair is made for every connection and dropped after the handshake.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SyncError } from './sync-error.js';

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface EphemeralKey {
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

/** A fresh ephemeral key; `secret` (32 bytes) makes it deterministic, for golden fixtures only. */
export function ephemeralKey(secret?: Uint8Array): EphemeralKey {
  let privateKey: KeyObject;
  if (secret !== undefined) {
    if (secret.byteLength !== 32) throw new SyncError('BAD_ARGUMENT', 'an X25519 secret is 32 bytes');
    privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, secret]), format: 'der', type: 'pkcs8' });
  } else {
    privateKey = generateKeyPairSync('x25519').privateKey;
  }
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { publicKey: new Uint8Array(spki.subarray(SPKI_X25519_PREFIX.byteLength)), privateKey };
}

/** The shared secret with the peer's ephemeral public key. Refuses an all-zero result (a low-order point). */
export function agree(own: EphemeralKey, peerPublic: Uint8Array): Buffer {
  if (peerPublic.byteLength !== 32) throw new SyncError('BAD_HANDSHAKE', 'an X25519 public key is 32 bytes');
  let shared: Buffer;
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, peerPublic]), format: 'der', type: 'spki' });
    shared = diffieHellman({ privateKey: own.privateKey, publicKey });
  } catch (err) {
    throw new SyncError('BAD_HANDSHAKE', `the peer's ephemeral key is not usable: ${(err as Error).message}`, { cause: err });
  }
  if (shared.every((b) => b === 0)) throw new SyncError('BAD_HANDSHAKE', "the peer's ephemeral key is a low-order point");
  return shared;
}
