/** The one error type of log/: every failure carries a string code and says what was wrong. */
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

export class LogError extends Error {
  readonly code: LogErrorCode;
  constructor(code: LogErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LogError';
    this.code = code;
  }
}
