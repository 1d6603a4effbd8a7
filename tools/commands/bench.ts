/**
 * `realize bench NAME|all`: runs benchmarks side by side with their anchors and prints a table
 * (or with --json one object per row). The benches are loaded only when this command runs.
 */
import { Option, type Command } from 'commander';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';

interface BenchFlags {
  dir?: string;
  scale: number;
  repeat: number;
  keep?: boolean;
}

function parseScaleFlag(v: string): number {
  const f = Number(v);
  if (!Number.isFinite(f) || f <= 0) throw new CliError('USAGE', `--scale must be a positive number, got ${JSON.stringify(v)}`);
  return f;
}

function parseRepeatFlag(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new CliError('USAGE', `--repeat must be a whole number of runs, at least 1, got ${JSON.stringify(v)}`);
  return n;
}

export function register(program: Command, cli: Cli): void {
  program
    .command('bench')
    .description('measure Realize against its anchors (hypercore, ...): `bench NAME`, or `bench all`')
    .argument('<name>', 'the benchmark to run (e.g. log), or "all"')
    .addOption(new Option('--dir <dir>', 'where to put the data (a fresh directory inside DIR; default: under the system temp dir)'))
    .addOption(new Option('--scale <f>', 'multiply workload sizes by F (e.g. 0.01 for a quick run)').argParser(parseScaleFlag).default(1))
    .addOption(new Option('--repeat <n>', 'run each workload N times and report the median').argParser(parseRepeatFlag).default(3))
    .addOption(new Option('--keep', 'keep the data afterwards (it is removed by default)'))
    .action(async (name: string, flags: BenchFlags, cmd: Command) => {
      const { benches, formatJsonLines, formatTable, machineNote, makeWorkDir } = await import('../bench/index.js');
      const { json } = cli.globals(cmd);
      let selected;
      if (name === 'all') selected = benches.list();
      else {
        const b = benches.get(name);
        if (b === undefined) throw new CliError('USAGE', `no bench named ${JSON.stringify(name)}; there are: ${benches.names().join(', ')}, all`);
        selected = [b];
      }
      for (const [i, bench] of selected.entries()) {
        const work = await makeWorkDir(flags.dir, flags.keep === true);
        try {
          const result = await bench.run({ dir: work.path, scale: flags.scale, repeat: flags.repeat, progress: (text) => cli.progress(cmd, text) });
          cli.progressDone(cmd);
          if (json) cli.stdout.write(formatJsonLines(bench.name, result));
          else {
            const notes = [...result.notes, await machineNote()];
            cli.stdout.write(`${i > 0 ? '\n' : ''}${formatTable(bench.name, bench.description, { rows: result.rows, notes })}`);
          }
        } finally {
          cli.progressDone(cmd);
          await work.cleanup();
          if (flags.keep === true) cli.stderr.write(`realize: bench ${bench.name} data kept in ${work.path}\n`);
        }
      }
    });
}
