/**
 * `realize peer add NAME KEY [--address HOST:PORT]`, `realize peer list`, `realize peer remove
 * NAME`: the household. Adding and removing are signed events in this peer's household feed,
 * so they replicate to every member with the next sync.
 */
import { Option, type Command } from 'commander';
import { loadHousehold } from '../../engine/sync/index.js';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';
import { withWriter } from '../with-writer.js';

export function register(program: Command, cli: Cli): void {
  const peer = program.command('peer').description('the household: the peers this store syncs with');
  peer
    .command('add')
    .description('add a peer to the household (or change its name or address)')
    .argument('<name>', 'a short name for the peer')
    .argument('<key>', 'its public key (what `realize id` prints there)')
    .addOption(new Option('--address <host:port>', 'where it listens (leave out for a deaf peer, which only dials out)'))
    .action(async (name: string, key: string, opts: { address?: string }, cmd: Command) => {
      await withWriter(cli, cmd, async (w) => {
        const m = await w.run('peer-add', { name, key, address: opts.address ?? null });
        cli.report(cmd, `added peer ${m.name} ${m.key}${m.address ? ` at ${m.address}` : ' (deaf: it dials out)'}`, { name: m.name, key: m.key, address: m.address });
      });
    });
  peer
    .command('list')
    .description('the members of the household')
    .action(async (_opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const h = await loadHousehold(engine);
        for (const m of h.members()) {
          cli.report(
            cmd,
            `${m.self ? '*' : ' '} ${m.name.padEnd(16)} ${m.key} ${m.address ?? (m.self ? '(this peer)' : '(deaf)')}`,
            { name: m.name, key: m.key, address: m.address, self: m.self },
          );
        }
      });
    });
  peer
    .command('remove')
    .description('remove a peer from the household: it can no longer connect, and its later entries are refused')
    .argument('<name>', 'its name (or key)')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withWriter(cli, cmd, async (w) => {
        const m = await w.run('peer-remove', { name });
        cli.report(cmd, `removed peer ${m.name} ${m.key}`, { name: m.name, key: m.key, removed: true });
      });
    });
  for (const c of peer.commands) c.exitOverride();
  peer.exitOverride();
}
