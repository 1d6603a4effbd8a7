/**
 * `realize conflicts [PATH]`: the conflict copies in the tree: entries the projections named
 * `NAME.conflict-ID` because two peers' concurrent changes claimed the same name. Both are
 * kept and shown; resolve by renaming or removing one.
 */
import type { Command } from 'commander';
import type { Cli } from '../cli-context.js';
import { withEngine } from '../with-engine.js';

const CONFLICT_RE = /\.conflict-[0-9a-f]{8,32}(\.[^.]*)?$/;

export function register(program: Command, cli: Cli): void {
  program
    .command('conflicts')
    .description('list the conflict copies that concurrent changes left')
    .argument('[path]', 'where to look', '/')
    .action(async (path: string, _opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const found: string[] = [];
        const walk = (dir: string): void => {
          for (const e of engine.readdir(dir)) {
            const p = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
            if (CONFLICT_RE.test(e.name)) found.push(p);
            if (e.info.kind === 'dir') walk(p);
          }
        };
        walk(path);
        for (const p of found) cli.report(cmd, p, { path: p, original: p.replace(/\.conflict-[0-9a-f]{8,32}/, '') });
        if (found.length === 0) cli.report(cmd, 'no conflicts', null);
      });
    });
}
