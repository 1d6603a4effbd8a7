/** This peer's identity: an Ed25519 key pair kept in the store, the secret with mode 0600. */
import { mkdir, open, readFile } from 'node:fs/promises';
import { generateKeyPair, keyPairFromSeed, toHex, type KeyPair } from '../log/index.js';
import { EngineError } from './engine-error.js';
import type { StoreLayout } from './store-layout.js';

export async function createIdentity(layout: StoreLayout, randomBytes: (n: number) => Uint8Array): Promise<KeyPair> {
  const pair = generateKeyPair(randomBytes);
  await mkdir(layout.identityDir, { recursive: true, mode: 0o700 });
  const fh = await open(layout.secretKey, 'wx', 0o600);
  try {
    await fh.writeFile(pair.secretKey);
    await fh.sync();
  } finally {
    await fh.close();
  }
  const pub = await open(layout.publicKey, 'wx', 0o644);
  try {
    await pub.writeFile(`${toHex(pair.publicKey)}\n`);
    await pub.sync();
  } finally {
    await pub.close();
  }
  return pair;
}

export async function loadIdentity(layout: StoreLayout): Promise<KeyPair> {
  let secret: Buffer;
  try {
    secret = await readFile(layout.secretKey);
  } catch (err) {
    throw new EngineError('NO_IDENTITY', `cannot read this peer's secret key at ${layout.secretKey}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (secret.byteLength !== 64) {
    throw new EngineError('NO_IDENTITY', `${layout.secretKey} is not an Ed25519 secret key (${secret.byteLength} bytes, expected 64)`);
  }
  const pair = keyPairFromSeed(new Uint8Array(secret.subarray(0, 32)));
  if (!Buffer.from(pair.publicKey).equals(secret.subarray(32))) {
    throw new EngineError('NO_IDENTITY', `${layout.secretKey} is damaged: its public half does not match its seed`);
  }
  return pair;
}

/** The public key alone, readable without access to the secret. */
export async function loadPublicKey(layout: StoreLayout): Promise<string> {
  try {
    const hex = (await readFile(layout.publicKey, 'utf8')).trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error('not a 32-byte hex key');
    return hex;
  } catch (err) {
    throw new EngineError('NO_IDENTITY', `cannot read this peer's public key at ${layout.publicKey}: ${(err as Error).message}`, { cause: err });
  }
}
