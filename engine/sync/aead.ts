/**
 * Sealing and opening transport frames: an AEAD from node:crypto, ChaCha20-Poly1305 (RFC 8439)
 * or, when the handshake chose it, AES-256-GCM; one key per direction, and a 64-bit frame
 * counter as the nonce (4 zero bytes || counter, big endian), so every frame is sealed under a
 * nonce used once and a frame that is dropped, repeated, reordered or moved to the other
 * direction fails to open. The frame's length prefix is the associated data.
 *
 * Chosen by measurement (spec/wire-format.md, "Choosing the cipher"): ~400-500 MB/s here
 * against ~15-25 MB/s for tweetnacl's secretbox (XSalsa20-Poly1305 in JavaScript); with
 * AES-NI, AES-256-GCM costs each side of a stream about 0.2 CPU-s a GiB less than ChaCha20.
 *
 * Large frames (a stream's blocks) are sealed and opened in place in pooled shared buffers by
 * the block hasher's worker (sealShared, openInPlace; frame-pool.ts says why); the bytes on the
 * wire are the same either way.
 */
import { createCipheriv, createDecipheriv, type CipherChaCha20Poly1305, type CipherGCM, type DecipherChaCha20Poly1305, type DecipherGCM } from 'node:crypto';
import { blockHasher, openedBlocks, type BlocksWanted } from '../block-hasher.js';
import { SyncError } from './sync-error.js';

export const TAG_BYTES = 16;
export const KEY_BYTES = 32;
/** The frame ciphers (spec/wire-format.md: the handshake's suite 0 and 1). */
export type FrameCipher = 'chacha20-poly1305' | 'aes-256-gcm';
/** A direction never seals more frames than this (far beyond any connection's life). */
const MAX_COUNTER = 2 ** 53 - 1;
/**
 * Into a buffer of the caller's, a frame is sealed or opened this much at a time: node:crypto's
 * update allocates each output (twice) and the output is copied into place; outputs this small
 * come from malloc's warm memory and die young, where one 2 MiB output took fresh pages and
 * lived on in V8's count of new buffers (frame-pool.ts).
 */
const CHUNK = 64 * 1024;
/** Parts under this size are gathered and sealed together (sealInto). */
const SMALL_RUN = 4096;

/** node:crypto's encrypting and decrypting streams of a frame cipher (the bench's cipher rows time them bare). */
export function encrypter(cipher: FrameCipher, key: Buffer, nonce: Buffer): CipherGCM | CipherChaCha20Poly1305 {
  return cipher === 'aes-256-gcm' ? createCipheriv(cipher, key, nonce, { authTagLength: TAG_BYTES }) : createCipheriv(cipher, key, nonce, { authTagLength: TAG_BYTES });
}

export function decrypter(cipher: FrameCipher, key: Buffer, nonce: Buffer): DecipherGCM | DecipherChaCha20Poly1305 {
  return cipher === 'aes-256-gcm' ? createDecipheriv(cipher, key, nonce, { authTagLength: TAG_BYTES }) : createDecipheriv(cipher, key, nonce, { authTagLength: TAG_BYTES });
}

function nonceOf(counter: number): Buffer {
  const n = Buffer.alloc(12);
  n.writeUInt32BE(Math.floor(counter / 0x100000000), 4);
  n.writeUInt32BE(counter >>> 0, 8);
  return n;
}

/** One direction of a connection: its key and how many frames it has sealed or opened (the next nonce). */
abstract class Direction {
  protected readonly key: Buffer;
  protected readonly cipher: FrameCipher;
  protected count = 0;
  constructor(key: Uint8Array, cipher: FrameCipher = 'chacha20-poly1305') {
    if (key.byteLength !== KEY_BYTES) throw new SyncError('BAD_ARGUMENT', 'a frame key is 32 bytes');
    this.key = Buffer.from(key);
    this.cipher = cipher;
  }
}

export class Sealer extends Direction {
  #small: Buffer | null = null;
  /** ciphertext || tag of `parts` (concatenated), bound to `aad`. */
  seal(aad: Uint8Array, parts: readonly Uint8Array[]): Buffer[] {
    if (this.count >= MAX_COUNTER) throw new SyncError('PROTOCOL', 'the frame counter is exhausted; reconnect');
    const c = encrypter(this.cipher, this.key, nonceOf(this.count++));
    c.setAAD(aad, { plaintextLength: parts.reduce((n, p) => n + p.byteLength, 0) });
    const out: Buffer[] = [];
    for (const p of parts) out.push(c.update(p));
    c.final();
    out.push(c.getAuthTag());
    return out;
  }

  /**
   * The same, sealed by the block hasher's worker into `out` (shared memory: a pooled buffer
   * holding at least the parts' bytes + TAG_BYTES); resolves with the view of `out` written.
   * The frame takes its nonce now: frames must be written in the order seal, sealInto and
   * sealShared were called. Neither `out` nor the parts may change until this settles (parts
   * over shared memory are read where they lie). Why: node:crypto allocates each output, and
   * the serving event loop spent as much on that as on sealing (frame-pool.ts).
   */
  sealShared(aad: Uint8Array, parts: readonly Uint8Array[], out: Buffer): Promise<Buffer> {
    if (!blockHasher.usable) return Promise.resolve(this.sealInto(aad, parts, out));
    if (this.count >= MAX_COUNTER) throw new SyncError('PROTOCOL', 'the frame counter is exhausted; reconnect');
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    if (out.byteLength < size + TAG_BYTES) throw new SyncError('BAD_ARGUMENT', `a sealed frame of ${size + TAG_BYTES} bytes does not fit in ${out.byteLength}`);
    const n = this.count++;
    return blockHasher.seal({ cipher: this.cipher, key: this.key, nonce: nonceOf(n), aad: Buffer.from(aad), tagBytes: TAG_BYTES, parts, out }).then(
      (bytes) => out.subarray(0, bytes),
      (err: unknown) => {
        throw new SyncError('IO', `frame ${n} could not be sealed: ${(err as Error).message}`, { cause: err });
      },
    );
  }

  /**
   * The same, written into `into` (ciphertext || tag: `into` holds at least the parts' bytes
   * + TAG_BYTES); returns the view of `into` written.
   */
  sealInto(aad: Uint8Array, parts: readonly Uint8Array[], into: Buffer): Buffer {
    if (this.count >= MAX_COUNTER) throw new SyncError('PROTOCOL', 'the frame counter is exhausted; reconnect');
    const size = parts.reduce((n, p) => n + p.byteLength, 0);
    if (into.byteLength < size + TAG_BYTES) throw new SyncError('BAD_ARGUMENT', `a sealed frame of ${size + TAG_BYTES} bytes does not fit in ${into.byteLength}`);
    const c = encrypter(this.cipher, this.key, nonceOf(this.count++));
    c.setAAD(aad, { plaintextLength: size });
    // Small parts (a message's headers, hashes and lengths) go through update together.
    const small = (this.#small ??= Buffer.allocUnsafeSlow(SMALL_RUN));
    let n = 0;
    let at = 0;
    for (const p of parts) {
      if (p.byteLength < SMALL_RUN) {
        if (n + p.byteLength > SMALL_RUN) {
          at = updateInto(c, small.subarray(0, n), into, at);
          n = 0;
        }
        small.set(p, n);
        n += p.byteLength;
        continue;
      }
      if (n > 0) at = updateInto(c, small.subarray(0, n), into, at);
      n = 0;
      at = updateInto(c, p, into, at);
    }
    if (n > 0) at = updateInto(c, small.subarray(0, n), into, at);
    c.final();
    c.getAuthTag().copy(into, at);
    return into.subarray(0, at + TAG_BYTES);
  }
}

/** Runs `p` through `c` a chunk at a time, each output copied into `into` from `at`; returns where it ended. */
function updateInto(c: { update(data: Uint8Array): Buffer }, p: Uint8Array, into: Buffer, at: number): number {
  for (let o = 0; o < p.byteLength; o += CHUNK) {
    const out = c.update(o === 0 && p.byteLength <= CHUNK ? p : p.subarray(o, Math.min(p.byteLength, o + CHUNK)));
    out.copy(into, at);
    at += out.byteLength;
  }
  return at;
}

export class Opener extends Direction {
  /** The plaintext of `sealed` (ciphertext || tag); throws BAD_FRAME when it does not authenticate. */
  open(aad: Uint8Array, sealed: Uint8Array): Buffer {
    if (sealed.byteLength < TAG_BYTES) throw new SyncError('BAD_FRAME', `a sealed frame of ${sealed.byteLength} bytes is shorter than its tag`);
    const n = this.count;
    const body = sealed.subarray(0, sealed.byteLength - TAG_BYTES);
    const d = decrypter(this.cipher, this.key, nonceOf(n));
    d.setAAD(aad, { plaintextLength: body.byteLength });
    d.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES));
    const plain = d.update(body);
    try {
      d.final();
    } catch {
      throw new SyncError('BAD_FRAME', `frame ${n} does not authenticate (corrupted, forged, repeated or out of order)`);
    }
    this.count++;
    return plain;
  }

  /**
   * Opens `sealed` (ciphertext || tag, in shared memory: a pooled buffer) in place, in the
   * block hasher's worker (on this thread when it failed): resolves with the plaintext, a
   * view of `sealed`'s first bytes, or rejects BAD_FRAME. The frame takes its nonce now, so
   * frames must be given in the order they came (whatever this and open() were called for);
   * `sealed` must not be touched until this settles.
   *
   * Why: node:crypto allocates every output it makes, and V8 counts new buffers against the
   * heap that made them (frame-pool.ts); opened here, a stream of large frames made the event
   * loop's heap collect every few MB. The worker's heap is small: its collections are cheap.
   *
   * With `blocks`, a message of blocks that fits it has its blocks hashed there as well, once
   * opened (openedBlocks.take(plaintext) has them): its reader need not post them back.
   */
  openInPlace(aad: Uint8Array, sealed: Buffer, blocks?: BlocksWanted): Promise<Buffer> {
    if (sealed.byteLength < TAG_BYTES) throw new SyncError('BAD_FRAME', `a sealed frame of ${sealed.byteLength} bytes is shorter than its tag`);
    if (this.count >= MAX_COUNTER) throw new SyncError('PROTOCOL', 'the frame counter is exhausted; reconnect');
    const n = this.count++;
    const plain = sealed.subarray(0, sealed.byteLength - TAG_BYTES);
    const bad = (): SyncError => new SyncError('BAD_FRAME', `frame ${n} does not authenticate (corrupted, forged, repeated or out of order)`);
    if (!blockHasher.usable) {
      const d = decrypter(this.cipher, this.key, nonceOf(n));
      d.setAAD(aad, { plaintextLength: plain.byteLength });
      d.setAuthTag(sealed.subarray(plain.byteLength));
      updateInto(d, plain, plain, 0);
      try {
        d.final();
      } catch {
        return Promise.reject(bad());
      }
      return Promise.resolve(plain);
    }
    return blockHasher.open({ cipher: this.cipher, key: this.key, nonce: nonceOf(n), aad: Buffer.from(aad), tagBytes: TAG_BYTES, sealed, ...(blocks !== undefined ? { blocks } : {}) }).then(
      (r) => {
        if (!r.opened) throw bad();
        if (r.blocks !== undefined) openedBlocks.set(plain, r.blocks);
        return plain;
      },
      (err: unknown) => {
        throw new SyncError('BAD_FRAME', `frame ${n} could not be opened: ${(err as Error).message}`, { cause: err });
      },
    );
  }
}
