/**
 * Runs a writing operation (engine/control/ops.ts) on the store named by --store: here, when
 * the store is free, or in the process that holds it (a mount, `realize serve`) through its
 * control socket, so `realize mark` or `realize restore` work while the store is mounted.
 */
import type { Command } from 'commander';
import { callControl, CONTROL_OPS, ControlError, type ControlOp, type ControlResult } from '../engine/control/index.js';
import { EngineError, type Engine } from '../engine/index.js';
import type { Cli } from './cli-context.js';
import { withEngine } from './with-engine.js';

export interface RunOptions {
  /** Progress of a long operation, as the operation reports it (the same object either way). */
  readonly onProgress?: (p: unknown) => void;
}

export interface Writer {
  /** Runs `op` where the store is writable; the result is the same either way. */
  run<K extends ControlOp>(op: K, args: unknown, opts?: RunOptions): Promise<ControlResult<K>>;
  /** The engine when the store is open here; null when another process holds it. */
  readonly engine: Engine | null;
}

export async function withWriter<T>(cli: Cli, cmd: Command, fn: (w: Writer) => Promise<T>): Promise<T> {
  const store = cli.globals(cmd).store;
  let opened = false;
  try {
    return await withEngine(cli, cmd, {}, (engine) => {
      opened = true;
      return fn({
        engine,
        run: (op, args, o = {}) => CONTROL_OPS[op](engine, args, { now: cli.env.now, ...(o.onProgress ? { progress: o.onProgress } : {}) }) as never,
      });
    });
  } catch (err) {
    if (opened || !(err instanceof EngineError && err.code === 'STORE_LOCKED')) throw err;
    const remote: Writer = { engine: null, run: (op, args, o = {}) => callControl(store, op, args, o) };
    try {
      return await fn(remote);
    } catch (e) {
      if (e instanceof ControlError && e.code === 'NO_DAEMON') throw new EngineError('STORE_LOCKED', `${err.message}, which takes no commands (a read-only or past mount, or an older realize)`);
      throw e;
    }
  }
}
