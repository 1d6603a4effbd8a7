/** Opens the engine on the store named by --store for one command, and always closes it. */
import type { Command } from 'commander';
import { Engine, type EngineOptions } from '../engine/index.js';
import type { Cli } from './cli-context.js';

export async function withEngine<T>(cli: Cli, cmd: Command, opts: EngineOptions, fn: (engine: Engine) => Promise<T>): Promise<T> {
  const engine = await Engine.open(cli.globals(cmd).store, cli.env, {
    ...opts,
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
