/** `realize tag [NAME [POSITION]]`: name a position (default: the head), or list the tags. */
import type { Command } from 'commander';
import { readTags, resolvePosition, writeTag } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { notAnOption } from './diff.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command, cli: Cli): void {
  program
    .command('tag')
    .description('name a position (default: the head); without NAME, list the tags')
    .argument('[name]', 'the tag')
    .argument('[position]', 'where it stands', 'head')
    // A relative time (-2h) is a position, not an option.
    .allowUnknownOption()
    .action(async (name: string | undefined, position: string, _opts: unknown, cmd: Command) => {
      for (const arg of cmd.args) notAnOption(arg);
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        if (name === undefined) {
          for (const [tag, t] of Object.entries(await readTags(engine.store.layout.root))) {
            cli.report(cmd, `${tag}\t${t.feed === '' ? '@0' : `${t.feed.slice(0, 16)}:${t.seq}`}`, { tag, ...t });
          }
          return;
        }
        const pos = await resolvePosition(engine, position);
        const row = pos.n > 0 ? engine.projections.positions.row(pos.n) : undefined;
        await writeTag(engine.store.layout.root, name, row ? { feed: row.feed, seq: row.seq } : { feed: '', seq: 0 });
        cli.report(cmd, `tagged @${pos.n} as ${name}`, { tag: name, position: pos.n, ...(row ? { feed: row.feed, seq: row.seq } : {}) });
      });
    });
}
