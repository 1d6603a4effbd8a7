/** `realize ls [PATH]`: a directory's entries (or one node). */
import type { Command } from 'commander';
import type { Cli } from '../cli-context.js';
import { formatMode, isoTime } from '../format.js';
import { withEngine } from '../with-engine.js';
import { atOption, snapshotAt } from '../at-option.js';
import type { NodeInfo } from '../../engine/index.js';

function row(name: string, i: NodeInfo): { human: string; json: Record<string, unknown> } {
  return {
    human: `${formatMode(i.kind, i.mode)} ${String(i.nlink).padStart(3)} ${String(i.uid).padStart(5)} ${String(i.gid).padStart(5)} ${String(i.size).padStart(12)} ${isoTime(i.mtime)} ${name}${i.kind === 'symlink' ? ` -> ${i.target}` : ''}`,
    json: { name, kind: i.kind, mode: `0${i.mode.toString(8)}`, nlink: i.nlink, uid: i.uid, gid: i.gid, size: i.size, mtime: isoTime(i.mtime), ino: i.ino, ...(i.target !== undefined ? { target: i.target } : {}) },
  };
}

export function register(program: Command, cli: Cli): void {
  program
    .command('ls')
    .description("list a directory's entries")
    .argument('[path]', 'a path in the store', '/')
    .addOption(atOption())
    .action(async (path: string, opts: { at?: string }, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const snap = await snapshotAt(engine, opts.at);
        const info = snap.stat(path);
        const entries = info.kind === 'dir' ? snap.readdir(path) : [{ name: path, info }];
        for (const e of entries) {
          const r = row(e.name, e.info);
          cli.report(cmd, r.human, r.json);
        }
      });
    });
}
