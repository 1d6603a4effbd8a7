/** log/: entries, CBOR codec, hashing, signing, segment files, recovery, verification. Imports nothing of ours. */
export { LogError, type LogErrorCode } from './log-error.js';
export { CodedError } from './coded-error.js';
export { toHex, fromHex, bytesEqual, compareBytes, asBuffer, hexDigitsAt, isHexId } from './bytes.js';
export { encodeCanonical, decodeCbor, type CborValue } from './cbor.js';
export { sha256, entryHash } from './hash.js';
export { keyPairFromSeed, generateKeyPair, Signer, verifySignature, type KeyPair } from './keys.js';
export { HybridClock, hlcWallMs, hlcFromWallMs, type Hlc } from './hlc.js';
export {
  createEntry,
  decodeRecord,
  encodeRecord,
  encodeBody,
  verifyEntry,
  checkLink,
  feedName,
  parseFeedName,
  validArea,
  ENTRY_FORMAT,
  type Entry,
  type EntryFields,
  type FeedId,
  type Heads,
} from './entry.js';
export { encodeFrame, checkFrame, encodeSegmentHeader, decodeSegmentHeader, SEGMENT_HEADER_BYTES, FRAME_HEADER_BYTES } from './frame.js';
export { segmentFileName, parseSegmentFileName, readAt } from './segment.js';
export { Feed, syncDir, type FeedHead, type FeedOptions, type Recovery } from './feed.js';
export { FeedSet, type FeedSetOptions } from './feed-set.js';
export { verifyFeed, type FeedProblem } from './verify.js';
export * from './events.js';
