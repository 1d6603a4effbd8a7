/** `realize log show`: the entries of the store's feeds, one line each (or one JSON object each). */
import { Command, Option } from 'commander';
import { hlcWallMs, toHex, type Entry } from '../../log/index.js';
import type { Cli } from '../cli-context.js';
import { CliError, parseSeq } from '../cli-error.js';
import { jsonValue } from '../json-value.js';
import { withEngine } from '../with-engine.js';
import { EngineError, history, parsePosition } from '../../engine/index.js';

function timeOf(text: string, now: number): number {
  const p = parsePosition(text, now);
  if (p.kind !== 'time') throw new EngineError('BAD_ARGUMENT', `not a time: ${text}`);
  return p.ms;
}

function eventKind(e: unknown): string {
  return e !== null && typeof e === 'object' && 'type' in e ? String((e as { type: unknown }).type) : typeof e;
}

function summary(entry: Entry): string {
  const kinds = new Map<string, number>();
  for (const e of entry.events) kinds.set(eventKind(e), (kinds.get(eventKind(e)) ?? 0) + 1);
  return [...kinds].map(([k, n]) => (n > 1 ? `${k}×${n}` : k)).join(' ');
}

export function register(log: Command, cli: Cli): void {
  log
    .command('show')
    .description('print the entries of every feed (or one)')
    .addOption(new Option('--feed <key>', 'only the feed whose name starts with KEY'))
    .addOption(new Option('--from <n>', 'start at entry N').argParser((v) => parseSeq(v)).default(0))
    .addOption(new Option('--limit <n>', 'at most N entries per feed').argParser((v) => parseSeq(v)))
    .addOption(new Option('--peer <key>', "only entries written by the peer whose key starts with KEY"))
    .addOption(new Option('--path <path>', 'only entries that changed what is (or was) at PATH, followed across renames'))
    .addOption(new Option('--since <time>', 'only entries written at or after TIME (2026-11-20T14:00, -2h, yesterday 14:00)'))
    .addOption(new Option('--until <time>', 'only entries written before TIME'))
    .action(async (opts: { feed?: string; from: number; limit?: number; peer?: string; path?: string; since?: string; until?: string }, cmd: Command) => {
      await withEngine(cli, cmd, { readOnly: true }, async (engine) => {
        const store = engine.store;
        const since = opts.since === undefined ? -Infinity : timeOf(opts.since, cli.env.now());
        const until = opts.until === undefined ? Infinity : timeOf(opts.until, cli.env.now());
        const ids = opts.path === undefined ? null : new Set((await history(engine, opts.path)).map((h) => h.id));
        const touches = (e: Entry): boolean =>
          ids === null || e.events.some((ev) => {
            const x = ev as { id?: unknown; root?: unknown };
            return (typeof x.id === 'string' && ids.has(x.id)) || (typeof x.root === 'string' && ids.has(x.root));
          });
        const feeds = store.feeds
          .list()
          .filter((f) => opts.feed === undefined || f.name.startsWith(opts.feed))
          .filter((f) => opts.peer === undefined || f.name.startsWith(opts.peer));
        if (opts.feed !== undefined && feeds.length === 0) throw new CliError('USAGE', `no feed starts with ${opts.feed}`);
        for (const feed of feeds) {
          const to = opts.limit === undefined ? feed.length : Math.min(feed.length, opts.from + opts.limit);
          for (let from = opts.from; from < to; from += 512) {
            for (const e of await feed.read(from, Math.min(to, from + 512))) {
              const wall = hlcWallMs(e.hlc);
              if (wall < since || wall >= until || !touches(e)) continue;
              const time = new Date(hlcWallMs(e.hlc)).toISOString();
              cli.report(cmd, `${feed.name.slice(0, 12)} #${e.seq} ${time} ${summary(e)}`, {
                feed: feed.name,
                seq: e.seq,
                hlc: e.hlc,
                time,
                hash: toHex(e.hash),
                prev: e.prev === null ? null : toHex(e.prev),
                heads: e.heads,
                events: jsonValue(e.events),
              });
            }
          }
        }
      });
    });
}
