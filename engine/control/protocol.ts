/**
 * The control protocol (spec/control-format.md): one JSON object per line over the store's
 * Unix socket. A request names an operation and its arguments; the answer carries the result
 * or the error, with its type and code so the caller reports it as if it had run the
 * operation itself.
 */
import { LogError } from '../../log/index.js';
import { EngineError } from '../engine-error.js';
import { PlacementError } from '../placement/placement-error.js';
import { SyncError } from '../sync/sync-error.js';
import { ControlError } from './control-error.js';

export const CONTROL_VERSION = 1;
/** A line longer than this is refused (a request carries paths, not content). */
export const MAX_LINE_BYTES = 1 << 20;

export interface ControlRequest {
  readonly realize: 'control';
  readonly v: number;
  readonly id: number;
  readonly op: string;
  readonly args: unknown;
  /** The caller shows progress: send progress lines before the answer. */
  readonly progress?: boolean;
}

export interface RemoteErrorInfo {
  readonly type: string;
  readonly code: string;
  readonly message: string;
}

export type ControlResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: RemoteErrorInfo };

/** How far a long operation has come: sent before its answer, only to a caller that asked. */
export interface ControlProgress {
  readonly id: number;
  readonly progress: unknown;
}

export function encodeLine(m: ControlRequest | ControlResponse | ControlProgress): Buffer {
  return Buffer.from(`${JSON.stringify(m)}\n`, 'utf8');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseLine(line: string, what: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new ControlError('PROTOCOL', `${what} that is not JSON`);
  }
}

export function decodeRequest(line: string): ControlRequest {
  const m = parseLine(line, 'a request');
  if (!isObject(m) || m['realize'] !== 'control') throw new ControlError('PROTOCOL', 'not a realize control request');
  if (m['v'] !== CONTROL_VERSION) throw new ControlError('PROTOCOL', `control protocol version ${JSON.stringify(m['v'])} is not ${CONTROL_VERSION}`);
  if (!Number.isSafeInteger(m['id']) || typeof m['op'] !== 'string') throw new ControlError('PROTOCOL', 'a request needs an integer id and an op');
  if (m['progress'] !== undefined && typeof m['progress'] !== 'boolean') throw new ControlError('PROTOCOL', 'progress must be true or false');
  return { realize: 'control', v: CONTROL_VERSION, id: m['id'] as number, op: m['op'], args: m['args'] ?? null, ...(m['progress'] === true ? { progress: true } : {}) };
}

/** An answer, or a progress line (only to a request that asked for them). */
export function decodeResponse(line: string): ControlResponse | ControlProgress {
  const m = parseLine(line, 'an answer');
  if (isObject(m) && Number.isSafeInteger(m['id']) && m['ok'] === undefined && 'progress' in m) return { id: m['id'] as number, progress: m['progress'] };
  if (!isObject(m) || !Number.isSafeInteger(m['id']) || typeof m['ok'] !== 'boolean') throw new ControlError('PROTOCOL', 'not a realize control answer');
  if (m['ok']) return { id: m['id'] as number, ok: true, result: m['result'] ?? null };
  const e = m['error'];
  if (!isObject(e) || typeof e['message'] !== 'string') throw new ControlError('PROTOCOL', 'an error answer without a message');
  return { id: m['id'] as number, ok: false, error: { type: String(e['type'] ?? 'Error'), code: String(e['code'] ?? ''), message: e['message'] } };
}

/** What travels of an error: its type, code and message (never a stack). */
export function errorInfo(err: unknown): RemoteErrorInfo {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { type: err.name, code: typeof code === 'string' ? code : '', message: err.message };
  }
  return { type: 'Error', code: '', message: String(err) };
}

type ErrorClass = new (code: never, message: string) => Error;
const KNOWN: Record<string, ErrorClass> = {
  EngineError: EngineError as ErrorClass,
  SyncError: SyncError as ErrorClass,
  PlacementError: PlacementError as ErrorClass,
  LogError: LogError as ErrorClass,
  ControlError: ControlError as ErrorClass,
};

/** The error again, as its own type where it is one of ours (so exit codes and errnos map alike). */
export function rebuildError(info: RemoteErrorInfo): Error {
  const Cls = KNOWN[info.type];
  return Cls === undefined ? new Error(info.message) : new Cls(info.code as never, info.message);
}
