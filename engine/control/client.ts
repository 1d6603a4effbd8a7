/** Sends one operation to the process that holds a store, and returns its result (or throws its error). */
import { connect } from 'node:net';
import { ControlError } from './control-error.js';
import type { ControlOp, ControlResult } from './ops.js';
import { CONTROL_VERSION, decodeResponse, encodeLine, rebuildError } from './protocol.js';
import { controlSocketPath } from './socket-path.js';

export interface CallOptions {
  /** Give up waiting for the answer after this long (restoring a big tree takes a while). */
  readonly timeoutMs?: number;
  /** Asks for progress lines and hands each one here (see spec/control-format.md). */
  readonly onProgress?: (p: unknown) => void;
}

let nextId = 1;

export function callControl<K extends ControlOp>(storeRoot: string, op: K, args: unknown, opts: CallOptions = {}): Promise<ControlResult<K>> {
  const path = controlSocketPath(storeRoot);
  const id = nextId++;
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buffered = '';
    let settled = false;
    const finish = (err: Error | null, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== null) reject(err);
      else resolve(value as ControlResult<K>);
    };
    const ms = opts.timeoutMs ?? 10 * 60_000;
    const timer = setTimeout(() => finish(new ControlError('TIMEOUT', `the process holding ${storeRoot} did not answer ${op} within ${ms / 1000} s`)), ms);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(encodeLine({ realize: 'control', v: CONTROL_VERSION, id, op, args, ...(opts.onProgress ? { progress: true } : {}) })));
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0 && !settled; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const r = decodeResponse(line);
          if (r.id !== id) throw new ControlError('PROTOCOL', `an answer to request ${r.id}, not ${id}`);
          if ('progress' in r) opts.onProgress?.(r.progress);
          else if (r.ok) finish(null, r.result);
          else finish(rebuildError(r.error));
        } catch (err) {
          finish(err as Error);
        }
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const gone = err.code === 'ENOENT' || err.code === 'ECONNREFUSED';
      finish(gone ? new ControlError('NO_DAEMON', `nothing takes commands at ${path}`, { cause: err }) : new ControlError('PROTOCOL', `control socket ${path}: ${err.message}`, { cause: err }));
    });
    socket.on('close', () => finish(new ControlError('PROTOCOL', `the process holding ${storeRoot} closed the control socket without answering`)));
  });
}
