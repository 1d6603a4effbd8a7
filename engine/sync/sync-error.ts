/** The one error type of engine/sync/: a string code and a message that says what was wrong. */
import { CodedError } from '../../log/index.js';

export type SyncErrorCode =
  /** The bytes are not this protocol (wrong magic or message type). */
  | 'NOT_REALIZE'
  | 'BAD_VERSION'
  /** The peer's key is not a member of the household. */
  | 'UNKNOWN_KEY'
  /** The peer holds another key than the one dialled. */
  | 'WRONG_KEY'
  /** A handshake signature does not verify (not the key's holder, or a replayed handshake). */
  | 'BAD_SIGNATURE'
  | 'BAD_HANDSHAKE'
  /** A frame fails authentication (corrupted, forged, replayed or reordered). */
  | 'BAD_FRAME'
  | 'FRAME_TOO_LARGE'
  /** The connection ended in the middle of a frame or of the handshake. */
  | 'TRUNCATED'
  | 'TIMEOUT'
  /** A well-sealed message that breaks the protocol's rules. */
  | 'PROTOCOL'
  /** The other side said why it closed. */
  | 'REFUSED'
  | 'CLOSED'
  | 'BAD_ADDRESS'
  | 'NO_PEER'
  | 'BAD_ARGUMENT'
  | 'IO';

export class SyncError extends CodedError<SyncErrorCode> {}
