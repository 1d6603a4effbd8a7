/** The one error type of engine/placement/: a string code and a message that says what was wrong. */
import { CodedError } from '../../log/index.js';

export type PlacementErrorCode =
  /** No connected peer could give a block (or none is connected). */
  | 'UNAVAILABLE'
  /** Peers were asked, and none answered in time. */
  | 'TIMEOUT'
  /** A setting or an argument that makes no sense (a cache size, a placement). */
  | 'BAD_ARGUMENT'
  /** The placement service is closed. */
  | 'CLOSED';

export class PlacementError extends CodedError<PlacementErrorCode> {}
