/** Opens the engine on the store named by --store for one command, and always closes it. */
import type { Command } from 'commander';
import { callControl } from '../engine/control/index.js';
import { Engine, type EngineOptions } from '../engine/index.js';
import type { Cli } from './cli-context.js';

/** How long a reader waits for the holder of the store to write the rows it holds. */
const SETTLE_ASK_MS = 2_000;

/**
 * Asks the process holding the store (a mount, `realize serve`) to write the projection rows it
 * holds in memory, so that a reader opened beside it sees every change made before it (nothing
 * answers when nothing holds the store; a holder that does not answer in time leaves the reader
 * at most the holder's hold time behind).
 */
export async function settleHolder(root: string): Promise<void> {
  await callControl(root, 'settle', null, { timeoutMs: SETTLE_ASK_MS }).catch(() => undefined);
}

export async function withEngine<T>(cli: Cli, cmd: Command, opts: EngineOptions, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.open(cli.globals(cmd).store, cli.env, {
    ...opts,
    settle: settleHolder,
    onRecovery: (r) => cli.stderr.write(`realize: recovered feed ${r.feed.slice(0, 16)}…: cut ${r.bytesCut} bytes of a torn tail at offset ${r.cutAt} of ${r.segment} (${r.reason})\n`),
    onReplay: (p) => cli.progress(cmd, `${p.rebuild ? 'rebuilding' : 'catching up'} projections: ${p.done}/${p.total} entries`),
  });
  cli.progressDone(cmd);
  try {
    return await fn(engine);
  } finally {
    await engine.close();
  }
}
