/**
 * The handshake: three messages that leave both sides holding direction-specific frame keys
 * and the proof that the other side holds the secret key of the household member it names
 * (spec/wire-format.md has the byte layouts).
 *
 *   HELLO  dialer -> listener:  eC, idC
 *   REPLY  listener -> dialer:  eS, idS, sig_idS("realize/wire/v1 listener\0" || th)
 *   AUTH   dialer -> listener:  sig_idC("realize/wire/v1 dialer\0" || th)
 *
 *   th  = SHA-256("realize/wire/v1 transcript\0" || eC || idC || eS || idS [|| suite])
 *   keys = HKDF-SHA256(ikm = X25519(e, e'), salt = th, info = "realize/wire/v1 dialer->listener"
 *          or "... listener->dialer", 32 bytes)
 *
 * The frame cipher: a dialer offers AES-256-GCM in HELLO's header (bytes 6-7, `offers`), a
 * listener that takes it answers with suite 1 in REPLY's (else 0: ChaCha20-Poly1305, all a
 * peer from before the offer knows; those bytes were reserved, zero, and never checked). A
 * suite other than 0 is in th, so both signatures cover the choice: a REPLY whose suite was
 * changed on the way fails the dialer's check of the listener's signature. (Taking the offer
 * out of a HELLO only makes the connection use ChaCha20-Poly1305, which is as safe.)
 *
 * Both ephemeral keys and both identities are in th, so a signature made for one session
 * never verifies in another (replay), and each role signs under its own label, so a
 * signature cannot be reflected back to its maker. The pure steps live here; the socket
 * side is secure-channel.ts.
 */
import { hkdfSync } from 'node:crypto';
import { bytesEqual, sha256, toHex, verifySignature, type Signer } from '../../log/index.js';
import type { FrameCipher } from './aead.js';
import { SyncError } from './sync-error.js';
import { agree, ephemeralKey, type EphemeralKey } from './x25519.js';

export const WIRE_MAGIC = Buffer.from('RLZW', 'latin1');
export const WIRE_VERSION = 1;
export const HELLO = 1;
export const REPLY = 2;
export const AUTH = 3;
export const REFUSE = 4;
export const HANDSHAKE_HEADER_BYTES = 8;
/** HELLO's `offers` bit: the dialer can seal and open AES-256-GCM frames. */
export const OFFER_AES_GCM = 1;
/** REPLY's `suite`: the frame cipher of the connection. */
export const SUITE_CHACHA20_POLY1305 = 0;
export const SUITE_AES_256_GCM = 1;
export const HELLO_BYTES = HANDSHAKE_HEADER_BYTES + 64;
export const REPLY_BYTES = HANDSHAKE_HEADER_BYTES + 128;
export const AUTH_BYTES = HANDSHAKE_HEADER_BYTES + 64;
/** A handshake record never exceeds this (a REFUSE carries at most this much reason). */
export const MAX_HANDSHAKE_BYTES = 512;

const TRANSCRIPT_TAG = Buffer.from('realize/wire/v1 transcript\0', 'latin1');
const LISTENER_TAG = Buffer.from('realize/wire/v1 listener\0', 'latin1');
const DIALER_TAG = Buffer.from('realize/wire/v1 dialer\0', 'latin1');
const INFO_D2L = Buffer.from('realize/wire/v1 dialer->listener', 'latin1');
const INFO_L2D = Buffer.from('realize/wire/v1 listener->dialer', 'latin1');

export type HandshakeMessage =
  | { readonly type: typeof HELLO; readonly ephemeral: Uint8Array; readonly identity: Uint8Array; readonly offers: number }
  | { readonly type: typeof REPLY; readonly ephemeral: Uint8Array; readonly identity: Uint8Array; readonly signature: Uint8Array; readonly suite: number }
  | { readonly type: typeof AUTH; readonly signature: Uint8Array }
  | { readonly type: typeof REFUSE; readonly reason: string };

/** Bytes 6-7: HELLO's `offers`, REPLY's `suite`; reserved (zero) in the others. */
function header(type: number, total: number, word = 0): Buffer {
  const b = Buffer.alloc(total);
  WIRE_MAGIC.copy(b, 0);
  b[4] = WIRE_VERSION;
  b[5] = type;
  b.writeUInt16BE(word, 6);
  return b;
}

export function encodeHello(ephemeral: Uint8Array, identity: Uint8Array, offers = 0): Buffer {
  const b = header(HELLO, HELLO_BYTES, offers);
  b.set(ephemeral, 8);
  b.set(identity, 40);
  return b;
}

export function encodeReply(ephemeral: Uint8Array, identity: Uint8Array, signature: Uint8Array, suite = SUITE_CHACHA20_POLY1305): Buffer {
  const b = header(REPLY, REPLY_BYTES, suite);
  b.set(ephemeral, 8);
  b.set(identity, 40);
  b.set(signature, 72);
  return b;
}

export function encodeAuth(signature: Uint8Array): Buffer {
  const b = header(AUTH, AUTH_BYTES);
  b.set(signature, 8);
  return b;
}

export function encodeRefuse(reason: string): Buffer {
  let text = Buffer.from(reason, 'utf8');
  if (text.byteLength > MAX_HANDSHAKE_BYTES - HANDSHAKE_HEADER_BYTES) text = text.subarray(0, MAX_HANDSHAKE_BYTES - HANDSHAKE_HEADER_BYTES);
  const b = header(REFUSE, HANDSHAKE_HEADER_BYTES + text.byteLength);
  text.copy(b, 8);
  return b;
}

export function decodeHandshake(b: Uint8Array): HandshakeMessage {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.byteLength < HANDSHAKE_HEADER_BYTES || !buf.subarray(0, 4).equals(WIRE_MAGIC)) {
    throw new SyncError('NOT_REALIZE', 'the peer does not speak the Realize wire protocol (bad magic)');
  }
  if (buf[4] !== WIRE_VERSION) throw new SyncError('BAD_VERSION', `the peer speaks wire version ${buf[4]}; this realize speaks ${WIRE_VERSION}`);
  const type = buf[5];
  const want = (n: number): void => {
    if (buf.byteLength !== n) throw new SyncError('BAD_HANDSHAKE', `handshake message ${type} is ${buf.byteLength} bytes, expected ${n}`);
  };
  const copy = (from: number, to: number): Uint8Array => new Uint8Array(buf.subarray(from, to));
  switch (type) {
    case HELLO:
      want(HELLO_BYTES);
      return { type, ephemeral: copy(8, 40), identity: copy(40, 72), offers: buf.readUInt16BE(6) };
    case REPLY:
      want(REPLY_BYTES);
      return { type, ephemeral: copy(8, 40), identity: copy(40, 72), signature: copy(72, 136), suite: buf.readUInt16BE(6) };
    case AUTH:
      want(AUTH_BYTES);
      return { type, signature: copy(8, 72) };
    case REFUSE:
      return { type, reason: buf.subarray(8).toString('utf8').replace(/[^\x20-\x7e]/g, '?') };
    default:
      throw new SyncError('NOT_REALIZE', `unknown handshake message type ${type}`);
  }
}

/** th; a suite other than ChaCha20-Poly1305's (0) is appended as two bytes, so the signatures cover it. */
export function transcriptHash(eC: Uint8Array, idC: Uint8Array, eS: Uint8Array, idS: Uint8Array, suite = SUITE_CHACHA20_POLY1305): Uint8Array {
  if (suite === SUITE_CHACHA20_POLY1305) return sha256(TRANSCRIPT_TAG, eC, idC, eS, idS);
  const s = Buffer.alloc(2);
  s.writeUInt16BE(suite);
  return sha256(TRANSCRIPT_TAG, eC, idC, eS, idS, s);
}

function cipherOf(suite: number): FrameCipher {
  return suite === SUITE_AES_256_GCM ? 'aes-256-gcm' : 'chacha20-poly1305';
}

export interface SessionKeys {
  /** This side's sending key. */
  readonly send: Uint8Array;
  /** This side's receiving key. */
  readonly receive: Uint8Array;
  /** The other side's identity (Ed25519 public key). */
  readonly peer: Uint8Array;
  /** The transcript hash: unique to this session. */
  readonly transcript: Uint8Array;
  /** The frame cipher both sides use (REPLY's suite). */
  readonly cipher: FrameCipher;
}

export function deriveKeys(shared: Uint8Array, th: Uint8Array): { dialerToListener: Uint8Array; listenerToDialer: Uint8Array } {
  return {
    dialerToListener: new Uint8Array(hkdfSync('sha256', shared, th, INFO_D2L, 32)),
    listenerToDialer: new Uint8Array(hkdfSync('sha256', shared, th, INFO_L2D, 32)),
  };
}

/** How a side decides whom to talk to: membership, and (dialing) the key it expects. */
export interface HandshakePolicy {
  readonly signer: Signer;
  /** True when the key (hex) is a household member this side accepts. */
  readonly isMember: (keyHex: string) => boolean;
  /** Dialer only: the key the listener must hold. */
  readonly expect?: string;
  /** Fixed ephemeral secret, for golden fixtures only. */
  readonly ephemeralSecret?: Uint8Array;
  /**
   * Whether this side offers (dialing) or takes (listening) AES-256-GCM frames; default true
   * (sync-node.ts passes whether the CPU has AES instructions). False behaves as a peer from
   * before the offer (golden fixtures, tests) and as one without AES hardware.
   */
  readonly aesGcm?: boolean;
}

// ---------------------------------------------------------------- dialer

export interface DialerState {
  readonly eph: EphemeralKey;
  readonly policy: HandshakePolicy;
}

export function dialerStart(policy: HandshakePolicy): { state: DialerState; hello: Buffer } {
  const eph = ephemeralKey(policy.ephemeralSecret);
  return { state: { eph, policy }, hello: encodeHello(eph.publicKey, policy.signer.publicKey, policy.aesGcm === false ? 0 : OFFER_AES_GCM) };
}

/** Checks the listener's REPLY; returns the AUTH to send and the session keys. */
export function dialerFinish(state: DialerState, reply: HandshakeMessage): { auth: Buffer; keys: SessionKeys } {
  if (reply.type === REFUSE) throw new SyncError('REFUSED', `the peer refused the connection: ${reply.reason}`);
  if (reply.type !== REPLY) throw new SyncError('BAD_HANDSHAKE', `expected the listener's reply, got handshake message ${reply.type}`);
  const { policy, eph } = state;
  const idS = toHex(reply.identity);
  if (policy.expect !== undefined && idS !== policy.expect) {
    throw new SyncError('WRONG_KEY', `the peer at this address holds key ${idS}, not the expected ${policy.expect}`);
  }
  if (bytesEqual(reply.identity, policy.signer.publicKey)) throw new SyncError('BAD_HANDSHAKE', 'the peer claims this peer\'s own key (a reflected handshake)');
  if (!policy.isMember(idS)) throw new SyncError('UNKNOWN_KEY', `the peer's key ${idS} is not a member of the household`);
  if (reply.suite !== SUITE_CHACHA20_POLY1305 && !(reply.suite === SUITE_AES_256_GCM && policy.aesGcm !== false)) {
    throw new SyncError('BAD_HANDSHAKE', `the peer chose frame cipher suite ${reply.suite}, which this peer did not offer`);
  }
  const th = transcriptHash(eph.publicKey, policy.signer.publicKey, reply.ephemeral, reply.identity, reply.suite);
  if (!verifySignature(reply.identity, Buffer.concat([LISTENER_TAG, th]), reply.signature)) {
    throw new SyncError('BAD_SIGNATURE', `the peer's handshake signature does not verify for key ${idS} (not the key's holder, or a replayed handshake)`);
  }
  const shared = agree(eph, reply.ephemeral);
  const k = deriveKeys(shared, th);
  const auth = encodeAuth(policy.signer.sign(Buffer.concat([DIALER_TAG, th])));
  return { auth, keys: { send: k.dialerToListener, receive: k.listenerToDialer, peer: reply.identity, transcript: th, cipher: cipherOf(reply.suite) } };
}

// ---------------------------------------------------------------- listener

export interface ListenerState {
  readonly th: Uint8Array;
  readonly suite: number;
  readonly peer: Uint8Array;
  readonly keys: { dialerToListener: Uint8Array; listenerToDialer: Uint8Array };
}

/** Checks the dialer's HELLO; returns the REPLY to send. */
export function listenerReply(policy: HandshakePolicy, hello: HandshakeMessage): { state: ListenerState; reply: Buffer } {
  if (hello.type !== HELLO) throw new SyncError('BAD_HANDSHAKE', `expected a hello, got handshake message ${hello.type}`);
  const idC = toHex(hello.identity);
  if (bytesEqual(hello.identity, policy.signer.publicKey)) throw new SyncError('BAD_HANDSHAKE', "the dialer claims this peer's own key (a reflected handshake)");
  if (!policy.isMember(idC)) throw new SyncError('UNKNOWN_KEY', `key ${idC} is not a member of the household`);
  const eph = ephemeralKey(policy.ephemeralSecret);
  const suite = (hello.offers & OFFER_AES_GCM) !== 0 && policy.aesGcm !== false ? SUITE_AES_256_GCM : SUITE_CHACHA20_POLY1305;
  const th = transcriptHash(hello.ephemeral, hello.identity, eph.publicKey, policy.signer.publicKey, suite);
  const shared = agree(eph, hello.ephemeral);
  const reply = encodeReply(eph.publicKey, policy.signer.publicKey, policy.signer.sign(Buffer.concat([LISTENER_TAG, th])), suite);
  return { state: { th, suite, peer: hello.identity, keys: deriveKeys(shared, th) }, reply };
}

/** Checks the dialer's AUTH; returns the session keys. */
export function listenerFinish(state: ListenerState, auth: HandshakeMessage): SessionKeys {
  if (auth.type === REFUSE) throw new SyncError('REFUSED', `the dialer gave up: ${auth.reason}`);
  if (auth.type !== AUTH) throw new SyncError('BAD_HANDSHAKE', `expected the dialer's signature, got handshake message ${auth.type}`);
  if (!verifySignature(state.peer, Buffer.concat([DIALER_TAG, state.th]), auth.signature)) {
    throw new SyncError('BAD_SIGNATURE', `the dialer's handshake signature does not verify for key ${toHex(state.peer)} (not the key's holder, or a replayed handshake)`);
  }
  return { send: state.keys.listenerToDialer, receive: state.keys.dialerToListener, peer: state.peer, transcript: state.th, cipher: cipherOf(state.suite) };
}
