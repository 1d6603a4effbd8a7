/** `realize stat PATH`: a node's metadata, content version, and logical and stored size. */
import type { Command } from 'commander';
import { toHex } from '../../log/index.js';
import type { Cli } from '../cli-context.js';
import { formatBytes, formatMode, isoTime } from '../format.js';
import { withEngine } from '../with-engine.js';
import { atOption, snapshotAt } from '../at-option.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('stat')
    .description("show a node's metadata, version, and logical and stored size")
    .argument('<path>', 'a path in the store')
    .addOption(atOption())
    .action(async (path: string, opts: { at?: string }, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const snap = await snapshotAt(engine, opts.at);
        const i = snap.stat(path);
        const usage = i.kind === 'file' ? snap.storedSize(i.id) : { logical: i.size, stored: 0, blocks: 0 };
        const json = {
          path, id: i.id, ino: i.ino, kind: i.kind, mode: `0${i.mode.toString(8)}`, uid: i.uid, gid: i.gid, nlink: i.nlink,
          size: i.size, stored: usage.stored, blocks: usage.blocks,
          atime: isoTime(i.atime), mtime: isoTime(i.mtime), ctime: isoTime(i.ctime),
          version: i.version === null ? null : toHex(i.version), pending: i.pending, area: i.area,
          ...(i.target !== undefined ? { target: i.target } : {}),
        };
        const human = [
          `  path: ${path}${i.target !== undefined ? ` -> ${i.target}` : ''}`,
          `  kind: ${i.kind}  mode: ${formatMode(i.kind, i.mode)} (0${i.mode.toString(8)})  uid: ${i.uid}  gid: ${i.gid}  links: ${i.nlink}`,
          `  size: ${i.size} (${formatBytes(i.size)} logical, ${formatBytes(usage.stored)} stored in ${usage.blocks} blocks)`,
          `    id: ${i.id}  inode: ${i.ino}  area: ${i.area}`,
          `version: ${json.version ?? '(none yet)'}${i.pending > 0 ? ` + ${i.pending} pending change(s)` : ''}`,
          `access: ${json.atime}`,
          `modify: ${json.mtime}`,
          `change: ${json.ctime}`,
        ].join('\n');
        cli.report(cmd, human, json);
      });
    });
}
