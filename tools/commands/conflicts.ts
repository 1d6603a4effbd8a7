/**
 * `realize conflicts [PATH]`: the conflict copies that concurrent changes left. Two kinds:
 * a file changed concurrently on two peers (the later author's version sits beside it), and
 * two nodes created under one name concurrently (the later one took the conflict name).
 * Both are named NAME.conflict-PEER-TIME.EXT; resolve by renaming or removing one.
 */
import type { Command } from 'commander';
import { listConflicts } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { isoTime } from '../format.js';
import { withEngine } from '../with-engine.js';

const CONFLICT_RE = /\.conflict-[0-9a-f]{8}-\d{8}-\d{6}(-[0-9a-f]{8,32})?(\.[^.]*)?$/;

export function register(program: Command, cli: Cli): void {
  program
    .command('conflicts')
    .description('list the conflict copies that concurrent changes left')
    .argument('[path]', 'where to look', '/')
    .action(async (path: string, _opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const under = (p: string | null): boolean => p !== null && (path === '/' || p === path || p.startsWith(`${path}/`));
        const seen = new Set<string>();
        let count = 0;
        for (const c of listConflicts(engine)) {
          if (!under(c.path)) continue;
          seen.add(c.path!);
          count++;
          cli.report(cmd, `${c.path}\tconcurrent change of ${c.ofPath ?? '(gone)'} by ${c.feed.slice(0, 8)} at ${isoTime(c.time)}`, { kind: 'content', ...c });
        }
        const walk = (dir: string): void => {
          for (const e of engine.readdir(dir)) {
            const p = dir === '/' ? `/${e.name}` : `${dir}/${e.name}`;
            if (CONFLICT_RE.test(e.name) && !seen.has(p)) {
              count++;
              cli.report(cmd, `${p}\tcreated concurrently with ${p.replace(/\.conflict-[0-9a-f]{8}-\d{8}-\d{6}(-[0-9a-f]{8,32})?/, '')}`, { kind: 'name', path: p, id: e.info.id });
            }
            if (e.info.kind === 'dir') walk(p);
          }
        };
        walk(path);
        if (count === 0) cli.report(cmd, 'no conflicts', null);
      });
    });
}
