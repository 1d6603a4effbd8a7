/**
 * The `realize` command line. Every command lives in tools/commands/, one file each; this
 * entry wires them up and is the only place that turns errors into exit codes.
 */
import { Command, CommanderError, Option } from 'commander';
import { EngineError } from '../engine/index.js';
import { MountError } from '../mount/index.js';
import { LogError } from '../log/index.js';
import { SyncError } from '../engine/sync/index.js';
import { makeCli, type Cli } from './cli-context.js';
import { CliError } from './cli-error.js';
import * as bench from './commands/bench.js';
import * as id from './commands/id.js';
import * as init from './commands/init.js';
import * as logShow from './commands/log-show.js';
import * as logVerify from './commands/log-verify.js';
import * as logReplay from './commands/log-replay.js';
import * as importCmd from './commands/import.js';
import * as exportCmd from './commands/export.js';
import * as ls from './commands/ls.js';
import * as cat from './commands/cat.js';
import * as stat from './commands/stat.js';
import * as gc from './commands/gc.js';
import * as mount from './commands/mount.js';
import * as tree from './commands/tree.js';
import * as historyCmd from './commands/history.js';
import * as diffCmd from './commands/diff.js';
import * as restoreCmd from './commands/restore.js';
import * as tag from './commands/tag.js';
import * as umount from './commands/umount.js';
import * as famfsMkfs from './commands/famfs-mkfs.js';
import * as famfsAdd from './commands/famfs-add.js';
import * as famfsFsck from './commands/famfs-fsck.js';
import * as famfsCp from './commands/famfs-cp.js';
import * as peer from './commands/peer.js';
import * as area from './commands/area.js';
import * as serve from './commands/serve.js';
import * as sync from './commands/sync.js';
import * as status from './commands/status.js';
import * as conflicts from './commands/conflicts.js';
import * as mark from './commands/mark.js';
import * as cache from './commands/cache.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, store: 3, corrupt: 4, internal: 70 } as const;

export function buildProgram(cli: Cli): Command {
  const program = new Command('realize')
    .description('Realize: an event-sourced storage engine behind a FUSE filesystem')
    .addOption(new Option('--store <dir>', 'the store directory (default: $REALIZE_STORE, else ~/.local/share/realize/default)'))
    .option('--json', 'machine-readable output: one JSON object per line')
    .option('--debug', 'show stack traces on errors')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({ writeOut: (s) => cli.stdout.write(s), writeErr: (s) => cli.stderr.write(s) });
  init.register(program, cli);
  id.register(program, cli);
  importCmd.register(program, cli);
  exportCmd.register(program, cli);
  ls.register(program, cli);
  cat.register(program, cli);
  stat.register(program, cli);
  gc.register(program, cli);
  tree.register(program, cli);
  historyCmd.register(program, cli);
  diffCmd.register(program, cli);
  restoreCmd.register(program, cli);
  tag.register(program, cli);
  mount.register(program, cli);
  umount.register(program, cli);
  bench.register(program, cli);
  peer.register(program, cli);
  area.register(program, cli);
  serve.register(program, cli);
  sync.register(program, cli);
  status.register(program, cli);
  conflicts.register(program, cli);
  mark.register(program, cli);
  cache.register(program, cli);
  const log = program.command('log').description('the signed, hash-chained feeds');
  logShow.register(log, cli);
  logVerify.register(log, cli);
  logReplay.register(log, cli);
  const famfs = program.command('famfs').description('famfs areas: devices, extents, checks');
  famfsMkfs.register(famfs, cli);
  famfsAdd.register(famfs, cli);
  famfsCp.register(famfs, cli);
  famfsFsck.register(famfs, cli);
  for (const c of [program, ...program.commands, ...log.commands, ...famfs.commands]) c.exitOverride();
  return program;
}

function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.code === 'USAGE' ? EXIT.usage : EXIT.failed;
  if (err instanceof MountError) return EXIT.store;
  if (err instanceof SyncError) return ['BAD_ARGUMENT', 'BAD_ADDRESS', 'NO_PEER'].includes(err.code) ? EXIT.usage : EXIT.failed;
  // A path or name that can never be valid is the caller's mistake; what is not there is the store's answer.
  if (err instanceof EngineError) return ['BAD_ARGUMENT', 'INVALID', 'NAME_TOO_LONG'].includes(err.code) ? EXIT.usage : err.code === 'BLOCK_CORRUPT' ? EXIT.corrupt : EXIT.store;
  if (err instanceof LogError) {
    return ['CORRUPT_SEGMENT', 'NOT_A_SEGMENT', 'BAD_SIGNATURE', 'BAD_CHAIN', 'MALFORMED_ENTRY', 'FORK', 'GAP', 'BAD_SEQUENCE', 'WRONG_FEED'].includes(err.code)
      ? EXIT.corrupt
      : EXIT.store;
  }
  return EXIT.internal;
}

/** Runs the CLI and returns the exit code; never throws. */
export async function main(argv: readonly string[], cli: Cli = makeCli()): Promise<number> {
  const program = buildProgram(cli);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const debug = argv.includes('--debug');
    const message = err instanceof Error ? err.message : String(err);
    cli.stderr.write(`realize: ${message}\n`);
    if (debug && err instanceof Error && err.stack) cli.stderr.write(`${err.stack}\n`);
    return exitCodeFor(err);
  }
}
