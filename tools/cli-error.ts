/** The one error type of tools/: bad usage, or a check that ran and found a problem. */
import { CodedError } from '../log/index.js';

export type CliErrorCode = 'USAGE' | 'CHECK_FAILED';

export class CliError extends CodedError<CliErrorCode> {}

export function parseSeq(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new CliError('USAGE', `not a sequence number: ${v}`);
  return n;
}
