/** `realize mount [MOUNTPOINT]`: serve the store's tree through FUSE, in the foreground. */
import { access } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { Engine, FamfsIo, famfsEngine, initStore } from '../../engine/index.js';
import { Mount, ShadowMount } from '../../mount/index.js';
import { loadHousehold, parseAddress, SyncNode } from '../../engine/sync/index.js';
import { ControlServer } from '../../engine/control/index.js';
import { settleHolder } from '../with-engine.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { atOption, snapshotAt } from '../at-option.js';

export function defaultMountpoint(): string {
  return process.env['REALIZE_MOUNT'] || join(homedir(), 'realize');
}

export function register(program: Command, cli: Cli): void {
  program
    .command('mount')
    .description('serve the store as a filesystem until interrupted (SIGINT/SIGTERM) or unmounted')
    .argument('[mountpoint]', 'where to mount (default: $REALIZE_MOUNT, else ~/realize)')
    .option('--allow-other', 'let other users reach the mount (modes still apply)')
    .option('--read-only', 'serve the tree read-only')
    .option('--shadow', 'serve the shadow view instead: the YAML document of every file (read-only; spec/shadow-format.md)')
    .addOption(atOption())
    .addOption(new Option('--attr-timeout <seconds>', 'kernel attribute/entry cache time').argParser(Number).default(1))
    .addOption(new Option('--listen <host:port>', 'with peers in the household: also accept their connections here'))
    .action(async (mountpoint: string | undefined, opts: { allowOther?: boolean; readOnly?: boolean; attrTimeout: number; at?: string; shadow?: boolean; listen?: string }, cmd: Command) => {
      const { store, debug } = cli.globals(cmd);
      const mp = mountpoint ?? defaultMountpoint();
      if (opts.shadow && opts.at !== undefined && opts.at !== 'head') throw new CliError('USAGE', '--shadow serves the head only so far; leave --at out');
      const exists = await access(store).then(() => true, () => false);
      if (!exists) {
        const { publicKey } = await initStore(store, cli.env);
        cli.stderr.write(`realize: created a new store at ${store} (peer id ${publicKey})\n`);
      }
      const engine = await Engine.open(store, cli.env, {
        readOnly: opts.readOnly === true || opts.at !== undefined,
        settle: settleHolder,
        onRecovery: (r) => cli.stderr.write(`realize: recovered feed ${r.feed.slice(0, 16)}…: cut ${r.bytesCut} bytes of a torn tail (${r.reason})\n`),
        onReplay: (p) => cli.progress(cmd, `${p.rebuild ? 'rebuilding' : 'catching up'} projections: ${p.done}/${p.total}`),
      });
      cli.progressDone(cmd);
      let mount: Pick<Mount, 'stop' | 'ended'>;
      // With other peers in the household, the mount syncs with them as `realize serve` does: reads
      // of Unreal content fetch from them, and content marked Real is downloaded (engine/placement).
      let node: SyncNode | null = null;
      let famfsIo: FamfsIo | null = null;
      try {
        if (!engine.readOnly && opts.at === undefined && !opts.shadow && (await loadHousehold(engine)).peers().length > 0) {
          node = await SyncNode.start(engine, {
            dial: true,
            writeLive: true,
            ...(opts.listen !== undefined ? { listen: parseAddress(opts.listen) } : {}),
            log: (line) => cli.stderr.write(`realize mount: ${new Date().toISOString()} ${line}\n`),
          });
        }
        const at = opts.at === undefined ? undefined : await snapshotAt(engine, opts.at);
        // Files of famfs areas are read and written on their device (engine/famfs/engine.ts).
        const famfs = at === undefined && !opts.shadow && engine.projections.famfs.devices().next().done !== true;
        famfsIo = famfs ? new FamfsIo(engine) : null;
        mount = opts.shadow
          ? await ShadowMount.start(engine, mp, { allowOther: opts.allowOther === true, attrTimeout: opts.attrTimeout, debug, log: (line) => cli.stderr.write(`${line}\n`) })
          : await Mount.start(famfsIo !== null ? famfsEngine(engine, famfsIo) : engine, mp, {
          ...(at ? { at } : {}),
          readOnly: opts.readOnly === true,
          allowOther: opts.allowOther === true,
          attrTimeout: opts.attrTimeout,
          entryTimeout: opts.attrTimeout,
          debug,
          log: (line) => cli.stderr.write(`${line}\n`),
        });
      } catch (err) {
        await node?.close();
        await engine.close();
        throw err;
      }
      // Writing commands given meanwhile (mark, restore, peer, area) run here (engine/control/).
      const control = engine.readOnly || opts.at !== undefined || opts.shadow ? null : await ControlServer.start(engine, { context: { syncNode: node, famfs: famfsIo, serving: [mp], now: cli.env.now } }).catch((err: unknown) => {
        cli.stderr.write(`realize: other commands cannot reach this mount: ${(err as Error).message}\n`);
        return null;
      });
      cli.report(cmd, `realize: serving ${store} at ${mp} (Ctrl-C or \`realize umount ${mp}\` to stop)`, { event: 'mounted', store, mountpoint: mp, pid: process.pid });
      const stop = (): void => void mount.stop().catch((err: unknown) => cli.stderr.write(`realize: ${(err as Error).message}\n`));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await mount.ended;
        await mount.stop();
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await control?.close();
        await node?.close();
        await engine.close();
      }
      cli.report(cmd, `realize: unmounted ${mp}`, { event: 'unmounted', mountpoint: mp });
    });
}
