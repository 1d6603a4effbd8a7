/** `realize diff A [B] [PATH]`: what changed between two positions (B: the head). */
import type { Command } from 'commander';
import { createTwoFilesPatch } from 'diff';
import { CHANGE_MARK, diffTrees, resolvePosition } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { withEngine } from '../with-engine.js';

const PATCH_LIMIT = 1024 * 1024;

function isText(b: Buffer): boolean {
  return !b.subarray(0, 8192).includes(0);
}

/** Dashed words that are not relative times (-2h, -30m) are options this command does not know. */
export function notAnOption(arg: string): void {
  if (arg.startsWith('-') && !/^-\d/.test(arg)) throw new CliError('USAGE', `unknown option '${arg}'`);
}

export function register(program: Command, cli: Cli): void {
  program
    .command('diff')
    .description('what changed between positions A and B (default: the head), below PATH')
    .argument('<a>', 'the earlier position')
    .argument('[b]', 'the later position', 'head')
    .argument('[path]', 'only below this path', '/')
    .option('--stat', 'a summary: how many of each kind of change')
    .option('--patch', 'unified diffs of changed text files')
    // A relative time (-2h) is a position, not an option: unknown dashed words reach the arguments.
    .allowUnknownOption()
    .action(async (a: string, b: string, path: string, opts: { stat?: boolean; patch?: boolean }, cmd: Command) => {
      for (const arg of [a, b, path]) notAnOption(arg);
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const pa = await resolvePosition(engine, a);
        const pb = await resolvePosition(engine, b);
        const sa = engine.at(pa.n);
        const sb = engine.at(pb.n);
        const changes = diffTrees(sa, sb, path);
        if (opts.stat) {
          const counts = { added: 0, removed: 0, modified: 0, renamed: 0, metadata: 0 };
          for (const c of changes) counts[c.kind]++;
          cli.report(cmd, `${changes.length} changes: ${counts.added} added, ${counts.removed} removed, ${counts.modified} modified, ${counts.renamed} renamed, ${counts.metadata} metadata only`, { from: pa.n, to: pb.n, ...counts });
          return;
        }
        for (const c of changes) {
          const line = c.kind === 'renamed' ? `${CHANGE_MARK[c.kind]}\t${c.from} -> ${c.path}${c.modified ? ' (modified)' : ''}` : `${CHANGE_MARK[c.kind]}\t${c.path}`;
          cli.report(cmd, line, c);
          const contentChanged = c.nodeKind === 'file' && (c.kind === 'modified' || c.modified === true);
          if (opts.patch && contentChanged && !cli.globals(cmd).json) {
            const before = sa.lookup(c.from ?? c.path);
            const after = sb.lookup(c.path);
            if (before && after && before.size <= PATCH_LIMIT && after.size <= PATCH_LIMIT) {
              const x = await sa.read(before.id, 0, before.size);
              const y = await sb.read(after.id, 0, after.size);
              if (isText(x) && isText(y)) cli.stdout.write(createTwoFilesPatch(`a${c.from ?? c.path}`, `b${c.path}`, x.toString('utf8'), y.toString('utf8'), `@${pa.n}`, `@${pb.n}`));
              else cli.stdout.write(`Binary files differ\n`);
            }
          }
        }
      });
    });
}
