/**
 * An entry: one signed, hash-chained record in a feed, holding the batch of events of one
 * commit. Layout (spec/log-format.md):
 *
 *   record = body || signature(64)
 *   body   = canonical CBOR [1, author, area, seq, prev, hlc, heads, events]
 *   hash   = SHA-256("realize/entry/v1\0" || body)      (the next entry's `prev`)
 *   signature = Ed25519(author's key, hash)
 */
import { decodeCbor, encodeCanonical, type CborValue } from './cbor.js';
import { entryHash } from './hash.js';
import { Signer, verifySignature } from './keys.js';
import { LogError } from './log-error.js';
import { bytesEqual, toHex } from './bytes.js';
import type { Hlc } from './hlc.js';

export const ENTRY_FORMAT = 1;
export const SIGNATURE_BYTES = 64;
const AREA_RE = /^(|[a-z0-9][a-z0-9-]{0,63})$/;

/** A feed is one author's log for one area ('' is the author's household feed). */
export interface FeedId {
  readonly author: Uint8Array;
  readonly area: string;
}

/** The feed's name: the author's key in hex, then `.area` for an area feed. */
export function feedName(feed: FeedId): string {
  return feed.area === '' ? toHex(feed.author) : `${toHex(feed.author)}.${feed.area}`;
}

export function parseFeedName(name: string): FeedId {
  const m = /^([0-9a-f]{64})(?:\.([a-z0-9][a-z0-9-]{0,63}))?$/.exec(name);
  if (!m) throw new LogError('WRONG_FEED', `not a feed name: ${JSON.stringify(name)}`);
  return { author: new Uint8Array(Buffer.from(m[1]!, 'hex')), area: m[2] ?? '' };
}

export function validArea(area: string): boolean {
  return AREA_RE.test(area);
}

/** What the author had applied of other feeds when it wrote this entry: feed name -> length. */
export type Heads = ReadonlyArray<readonly [feed: string, length: number]>;

export interface EntryFields<E = CborValue> {
  readonly author: Uint8Array;
  readonly area: string;
  readonly seq: number;
  readonly prev: Uint8Array | null;
  readonly hlc: Hlc;
  readonly heads: Heads;
  readonly events: readonly E[];
}

export interface Entry<E = CborValue> extends EntryFields<E> {
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
  readonly hash: Uint8Array;
}

function sortHeads(heads: Heads): Heads {
  return [...heads].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

export function encodeBody<E>(f: EntryFields<E>): Uint8Array {
  return encodeCanonical([
    ENTRY_FORMAT,
    f.author,
    f.area,
    f.seq,
    f.prev,
    f.hlc,
    sortHeads(f.heads) as unknown as CborValue,
    f.events as unknown as CborValue,
  ]);
}

export function createEntry<E>(fields: EntryFields<E>, signer: Signer): Entry<E> {
  const entry = prepareEntry(fields, signer);
  entry.signature.set(signer.sign(entry.hash));
  return entry;
}

/**
 * An entry whose body and hash are final but whose signature is not made yet: its
 * `signature` is 64 zero bytes, to be filled in place (signer.signAsync(entry.hash)) before
 * the entry is written anywhere. The hash, and so the chain, does not depend on the
 * signature: the feed's group-commit writer signs a batch off the request path.
 */
export function prepareEntry<E>(fields: EntryFields<E>, signer: Signer): Entry<E> {
  if (!bytesEqual(fields.author, signer.publicKey)) {
    throw new LogError('WRONG_FEED', 'only the author of a feed may sign its entries');
  }
  checkFields(fields);
  const body = encodeBody(fields);
  const hash = entryHash(body);
  return { ...fields, heads: sortHeads(fields.heads), body, hash, signature: new Uint8Array(SIGNATURE_BYTES) };
}

export function encodeRecord(entry: Entry<unknown>): Buffer {
  return Buffer.concat([entry.body, entry.signature]);
}

function checkFields(f: EntryFields<unknown>): void {
  if (f.author.byteLength !== 32) throw new LogError('MALFORMED_ENTRY', 'author key must be 32 bytes');
  if (!validArea(f.area)) throw new LogError('MALFORMED_ENTRY', `bad area name ${JSON.stringify(f.area)}`);
  if (!Number.isSafeInteger(f.seq) || f.seq < 0) throw new LogError('MALFORMED_ENTRY', `bad sequence number ${f.seq}`);
  if (f.seq === 0 ? f.prev !== null : f.prev === null || f.prev.byteLength !== 32) {
    throw new LogError('MALFORMED_ENTRY', `entry ${f.seq} has a bad previous-hash field`);
  }
  if (!Number.isSafeInteger(f.hlc) || f.hlc < 0) throw new LogError('MALFORMED_ENTRY', `bad timestamp ${f.hlc}`);
  if (!Array.isArray(f.events) || f.events.length === 0) throw new LogError('MALFORMED_ENTRY', 'an entry holds at least one event');
}

/** Decodes a record's structure. Does not check the signature: see verifyEntry. */
export function decodeRecord<E = CborValue>(record: Uint8Array): Entry<E> {
  if (record.byteLength <= SIGNATURE_BYTES) throw new LogError('MALFORMED_ENTRY', `record of ${record.byteLength} bytes is too short`);
  const body = record.subarray(0, record.byteLength - SIGNATURE_BYTES);
  const signature = record.subarray(record.byteLength - SIGNATURE_BYTES);
  let parsed: unknown;
  try {
    parsed = decodeCbor(body);
  } catch (err) {
    throw new LogError('MALFORMED_ENTRY', `entry body is not CBOR: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length !== 8 || parsed[0] !== ENTRY_FORMAT) {
    throw new LogError('MALFORMED_ENTRY', 'entry body is not a version-1 entry array');
  }
  const [, author, area, seq, prev, hlc, heads, events] = parsed as [number, unknown, unknown, unknown, unknown, unknown, unknown, unknown];
  if (!(author instanceof Uint8Array) || typeof area !== 'string' || typeof seq !== 'number' || typeof hlc !== 'number') {
    throw new LogError('MALFORMED_ENTRY', 'entry fields have the wrong types');
  }
  if (!(prev === null || prev instanceof Uint8Array) || !Array.isArray(heads) || !Array.isArray(events)) {
    throw new LogError('MALFORMED_ENTRY', 'entry fields have the wrong types');
  }
  for (const h of heads) {
    if (!Array.isArray(h) || h.length !== 2 || typeof h[0] !== 'string' || typeof h[1] !== 'number') {
      throw new LogError('MALFORMED_ENTRY', 'entry heads are malformed');
    }
  }
  const fields: EntryFields<E> = { author, area, seq, prev, hlc, heads: heads as unknown as Heads, events: events as E[] };
  checkFields(fields);
  return { ...fields, body, signature, hash: entryHash(body) };
}

/** Throws BAD_SIGNATURE unless the entry is signed by its author. */
export function verifyEntry(entry: Entry<unknown>): void {
  if (!verifySignature(entry.author, entry.hash, entry.signature)) {
    throw new LogError('BAD_SIGNATURE', `entry ${entry.seq} of feed ${feedName(entry)} has a bad signature`);
  }
}

/** Throws unless `next` follows `prev` (or is the first entry of its feed, when prev is null). */
export function checkLink(feed: FeedId, prev: Entry<unknown> | { seq: number; hash: Uint8Array } | null, next: Entry<unknown>): void {
  const name = feedName(feed);
  if (!bytesEqual(next.author, feed.author) || next.area !== feed.area) {
    throw new LogError('WRONG_FEED', `entry ${next.seq} belongs to feed ${feedName(next)}, not ${name}`);
  }
  const expected = prev === null ? 0 : prev.seq + 1;
  if (next.seq > expected) throw new LogError('GAP', `feed ${name}: expected entry ${expected}, got ${next.seq} (entries missing)`);
  if (next.seq < expected) throw new LogError('BAD_SEQUENCE', `feed ${name}: expected entry ${expected}, got ${next.seq} (out of order or repeated)`);
  if (prev !== null && (next.prev === null || !bytesEqual(next.prev, prev.hash))) {
    throw new LogError('BAD_CHAIN', `feed ${name}: entry ${next.seq} does not chain to entry ${prev.seq}`);
  }
}
