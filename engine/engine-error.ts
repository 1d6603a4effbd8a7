/** The one error type of engine/: a string code and a message that says what was wrong. */
import { CodedError } from '../log/index.js';

export type EngineErrorCode =
  | 'NOT_A_STORE'
  | 'STORE_EXISTS'
  | 'STORE_LOCKED'
  | 'NO_IDENTITY'
  | 'READ_ONLY'
  | 'BAD_ARGUMENT'
  | 'IO'
  // Filesystem outcomes (mount/ maps them to errnos):
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'NOT_A_DIRECTORY'
  | 'IS_A_DIRECTORY'
  | 'NOT_EMPTY'
  | 'INVALID'
  | 'NAME_TOO_LONG'
  | 'CROSS_AREA'
  | 'NOT_PERMITTED'
  | 'NO_ATTRIBUTE'
  | 'TOO_BIG'
  // Block store (engine/block-store.ts):
  | 'BLOCK_MISSING'
  | 'BLOCK_CORRUPT'
  | 'NO_SPACE';

export class EngineError extends CodedError<EngineErrorCode> {}
