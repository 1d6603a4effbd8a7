/** The one error type of engine/: a string code and a message that says what was wrong. */
export type EngineErrorCode =
  | 'NOT_A_STORE'
  | 'STORE_EXISTS'
  | 'STORE_LOCKED'
  | 'NO_IDENTITY'
  | 'READ_ONLY'
  | 'BAD_ARGUMENT'
  | 'IO';

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}
