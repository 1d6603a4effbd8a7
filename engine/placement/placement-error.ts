/** The one error type of engine/placement/: a string code and a message that says what was wrong. */
export type PlacementErrorCode =
  /** No connected peer could give a block (or none is connected). */
  | 'UNAVAILABLE'
  /** Peers were asked, and none answered in time. */
  | 'TIMEOUT'
  /** A setting or an argument that makes no sense (a cache size, a placement). */
  | 'BAD_ARGUMENT'
  /** The placement service is closed. */
  | 'CLOSED';

export class PlacementError extends Error {
  readonly code: PlacementErrorCode;
  constructor(code: PlacementErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PlacementError';
    this.code = code;
  }
}
