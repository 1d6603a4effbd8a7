/** The one error type of engine/control/: a string code and a message that says what was wrong. */
import { CodedError } from '../../log/index.js';

export type ControlErrorCode =
  /** Nothing answers on the store's control socket (no writer runs, or it takes no commands). */
  | 'NO_DAEMON'
  /** A line that is not a request or response of this protocol (spec/control-format.md). */
  | 'PROTOCOL'
  /** An operation the serving process does not know. */
  | 'UNKNOWN_OP'
  /** The serving process did not answer in time. */
  | 'TIMEOUT';

export class ControlError extends CodedError<ControlErrorCode> {}
