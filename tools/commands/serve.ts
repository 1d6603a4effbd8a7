/**
 * `realize serve [--listen HOST:PORT]`: runs this peer. With --listen it accepts members'
 * connections (a listening peer); always, it keeps a live connection to every member that has
 * an address, pushing and receiving entries as they are appended. Runs until SIGINT/SIGTERM.
 * Prints "listening on HOST:PORT" (or "deaf: dialling out only") once it is up; logs one
 * line per refused connection or failure on stderr.
 */
import { Option, type Command } from 'commander';
import { parseAddress, SyncNode } from '../../engine/sync/index.js';
import { ControlServer } from '../../engine/control/index.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('serve')
    .description('run this peer: listen (with --listen) and keep every listening member in sync')
    .addOption(new Option('--listen <host:port>', 'accept connections here (port 0: any free port)'))
    .action(async (opts: { listen?: string }, cmd: Command) => {
      const listen = opts.listen === undefined ? undefined : parseAddress(opts.listen);
      await withEngine(cli, cmd, {}, async (engine) => {
        const node = await SyncNode.start(engine, {
          ...(listen !== undefined ? { listen } : {}),
          dial: true,
          writeLive: true,
          log: (line) => cli.stderr.write(`realize serve: ${new Date().toISOString()} ${line}\n`),
        });
        const control = await ControlServer.start(engine, { context: { syncNode: node, now: cli.env.now } });
        const a = node.address;
        cli.report(cmd, a === null ? 'deaf: dialling out only' : `listening on ${a.host}:${a.port}`, { listening: a === null ? null : `${a.host}:${a.port}`, id: engine.store.publicKey });
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            resolve();
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        await control.close();
        await node.close();
      });
    });
}
