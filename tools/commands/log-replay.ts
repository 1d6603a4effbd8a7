/**
 * `realize log replay`: play the log somewhere.
 *
 *   --check               rebuild every projection in a scratch place and compare digests
 *   --shadow DIR          the tree as a shadow filesystem: directories, and a YAML document per file
 *   --into DIR            the tree as plain files with their content
 *   --verify              with --shadow/--into: check DIR against the log instead of replaying
 *   --at POSITION         where in the log to stand (today only "head", the default)
 */
import type { Command } from 'commander';
import { replayCheck, replayShadow, verifyShadow, type Engine, type ShadowMode } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { CliError } from '../cli-error.js';
import { formatBytes } from '../format.js';
import { withEngine } from '../with-engine.js';

interface ReplayFlags {
  check?: boolean;
  shadow?: string;
  into?: string;
  verify?: boolean;
  at?: string;
  parseAll?: boolean;
}

async function check(engine: Engine, cli: Cli, cmd: Command): Promise<void> {
  const r = await replayCheck(engine, { onProgress: (p) => cli.progress(cmd, `replaying: ${p.done}/${p.total} entries`) });
  cli.progressDone(cmd);
  for (const p of r.projections) {
    cli.report(cmd, `${p.same ? 'same' : 'DIFFERS'}  ${p.name.padEnd(8)} ${p.rebuilt.slice(0, 16)}${p.same ? '' : ` (live ${p.live.slice(0, 16)})`}`, p);
  }
  const rate = r.seconds > 0 ? Math.round(r.entries / r.seconds) : r.entries;
  cli.report(cmd, `replayed ${r.entries} entries in ${r.seconds.toFixed(2)} s (${rate} entries/s)`, { entries: r.entries, seconds: r.seconds, ok: r.ok });
  if (!r.ok) throw new CliError('CHECK_FAILED', `rebuilt projections differ from the live ones: ${r.projections.filter((p) => !p.same).map((p) => p.name).join(', ')}`);
}

async function verify(engine: Engine, cli: Cli, cmd: Command, mode: ShadowMode, dir: string, flags: ReplayFlags): Promise<void> {
  const r = await verifyShadow(engine, dir, {
    mode,
    ...(flags.at !== undefined ? { at: flags.at } : {}),
    parseAll: flags.parseAll === true,
    onProgress: (n) => cli.progress(cmd, `verifying ${dir}: ${n} entries`),
    onMismatch: (m) => {
      cli.progressDone(cmd);
      cli.report(cmd, `${m.kind.padEnd(11)} ${m.path}: ${m.detail}`, { event: 'mismatch', ...m });
    },
  });
  cli.progressDone(cmd);
  const summary = r.ok
    ? `ok: ${dir} matches the log (${r.checked} entries checked in ${r.seconds.toFixed(2)} s)`
    : `${r.mismatchCount} mismatches in ${dir} (${r.checked} entries checked)`;
  cli.report(cmd, summary, { event: 'verified', mode, dir: r.dir, checked: r.checked, mismatches: r.mismatchCount, stale: r.stale, ok: r.ok, seconds: r.seconds });
  if (!r.ok) throw new CliError('CHECK_FAILED', `${dir} differs from the log${r.stale ? ' (it was replayed at another position than the log now stands at: replay again)' : ''}`);
}

async function replay(engine: Engine, cli: Cli, cmd: Command, mode: ShadowMode, dir: string, flags: ReplayFlags): Promise<void> {
  const r = await replayShadow(engine, dir, {
    mode,
    ...(flags.at !== undefined ? { at: flags.at } : {}),
    onProgress: (s) => cli.progress(cmd, `replaying into ${dir}: ${s.files} files, ${s.dirs} dirs, ${s.written} written, ${s.removed} removed`),
    onProblem: (p) => {
      cli.progressDone(cmd);
      cli.stderr.write(`realize: ${p.path}: ${p.reason}\n`);
    },
  });
  cli.progressDone(cmd);
  const files = r.files + r.symlinks;
  const rate = r.seconds > 0 ? Math.round(files / r.seconds) : files;
  cli.report(
    cmd,
    `replayed ${r.at} ${r.incremental ? 'over the earlier replay in' : 'into'} ${r.dir} (--${mode}): ${r.files} files, ${r.symlinks} symlinks, ${r.dirs} directories; ` +
      `${r.written} written, ${r.unchanged} unchanged, ${r.removed} removed, ${formatBytes(r.bytes)} in ${r.seconds.toFixed(2)} s (${rate} files/s)` +
      (r.problems > 0 ? `; ${r.problems} entries skipped (see above)` : ''),
    {
      event: 'replayed', mode, dir: r.dir, at: r.at, incremental: r.incremental, files: r.files, symlinks: r.symlinks, dirs: r.dirs,
      written: r.written, unchanged: r.unchanged, removed: r.removed, bytes: r.bytes, problems: r.problemList, seconds: r.seconds,
    },
  );
}

export function register(log: Command, cli: Cli): void {
  log
    .command('replay')
    .description('play the log: --check rebuilds projections and compares; --shadow DIR / --into DIR write the tree; --verify checks DIR')
    .option('--check', 'rebuild into a scratch location and compare each projection with the live one')
    .option('--shadow <dir>', 'write the tree as a shadow filesystem: directories, and one YAML document per file (spec/shadow-format.md)')
    .option('--into <dir>', 'write the tree as plain files with their content')
    .option('--verify', 'with --shadow or --into: check DIR against the log (exit 1 when anything differs)')
    .option('--parse-all', 'with --verify --shadow: parse every document, not only those whose bytes differ')
    .option('--at <position>', 'the position to replay (only "head", the default, so far)')
    .action(async (flags: ReplayFlags, cmd: Command) => {
      const targets = [flags.check, flags.shadow, flags.into].filter((x) => x !== undefined && x !== false);
      if (targets.length !== 1) throw new CliError('USAGE', 'say what to replay into: one of --check, --shadow DIR, --into DIR');
      if (flags.verify && flags.check) throw new CliError('USAGE', '--verify goes with --shadow DIR or --into DIR');
      if (flags.at !== undefined && flags.at !== 'head') {
        throw new CliError('USAGE', `--at ${flags.at}: only the head can be replayed so far (--at head, or leave --at out)`);
      }
      await withEngine(cli, cmd, {}, async (engine) => {
        if (flags.check) return check(engine, cli, cmd);
        const mode: ShadowMode = flags.shadow !== undefined ? 'shadow' : 'into';
        const dir = (flags.shadow ?? flags.into)!;
        if (flags.verify) return verify(engine, cli, cmd, mode, dir, flags);
        return replay(engine, cli, cmd, mode, dir, flags);
      });
    });
}
