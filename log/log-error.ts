/** The one error type of log/: every failure carries a string code and says what was wrong. */
import { CodedError } from './coded-error.js';

export type LogErrorCode =
  | 'BAD_SIGNATURE'
  | 'BAD_CHAIN'
  | 'BAD_SEQUENCE'
  | 'GAP'
  | 'FORK'
  | 'WRONG_FEED'
  | 'MALFORMED_ENTRY'
  | 'CORRUPT_SEGMENT'
  | 'NOT_A_SEGMENT'
  | 'READ_ONLY'
  | 'CLOSED'
  | 'BAD_KEY'
  | 'NO_SPACE'
  | 'INVALID_EVENT'
  | 'NAME_TOO_LONG'
  | 'IO';

export class LogError extends CodedError<LogErrorCode> {}
