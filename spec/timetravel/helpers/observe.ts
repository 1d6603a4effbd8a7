/**
 * What the reading commands print at one position: `tree /`, `ls` of every directory, `stat`
 * of every path and `cat` of every file, all with --json (cat: the raw bytes). Recorded at the
 * head while a story is written, it is what every later `--at` of that position must print.
 */
import type { StoreEnv } from '../../../engine/index.js';
import { jsonLines, realize, type CliRun } from './cli.js';
import type { ModelState } from './model.js';

export interface Observation {
  /** `tree / --json`, as printed. */
  readonly tree: string;
  /** path -> `ls PATH --json` output, for "/" and every directory. */
  readonly ls: Readonly<Record<string, string>>;
  /** path -> `stat PATH --json` output, for every path. */
  readonly stat: Readonly<Record<string, string>>;
  /** path -> `cat PATH` output (hex), for every file. */
  readonly cat: Readonly<Record<string, string>>;
}

function printed(r: CliRun, hex = false): string {
  if (r.code !== 0) return `exit ${r.code}: ${r.stderr}`;
  return hex ? r.out.toString('hex') : r.stdout;
}

export interface TreeRow {
  readonly path: string;
  readonly kind: string;
  readonly size: number;
}

export function treeRows(tree: string): TreeRow[] {
  return jsonLines({ code: 0, out: Buffer.from(tree), stdout: tree, stderr: '' }) as unknown as TreeRow[];
}

/** Runs every reading command on every path the tree shows, at `at` (the head when undefined). */
export async function observe(env: StoreEnv, store: string, at?: string): Promise<Observation> {
  const atArgs = at === undefined ? [] : ['--at', at];
  const tree = await realize(env, store, '--json', 'tree', '/', ...atArgs);
  if (tree.code !== 0) throw new Error(`tree / ${atArgs.join(' ')} exited ${tree.code}: ${tree.stderr}`);
  const rows = treeRows(tree.stdout);
  const ls: Record<string, string> = {};
  const stat: Record<string, string> = {};
  const cat: Record<string, string> = {};
  for (const row of rows) {
    if (row.kind === 'dir') ls[row.path] = printed(await realize(env, store, '--json', 'ls', row.path, ...atArgs));
    stat[row.path] = printed(await realize(env, store, '--json', 'stat', row.path, ...atArgs));
    if (row.kind === 'file') cat[row.path] = printed(await realize(env, store, 'cat', row.path, ...atArgs), true);
  }
  return { tree: tree.stdout, ls, stat, cat };
}

/**
 * The differences between an observation (what the commands printed) and the model's tree
 * (what they should show): names, kinds, modes, owners, link counts, sizes, targets, bytes.
 */
export function modelMismatches(obs: Observation, model: ModelState): string[] {
  const problems: string[] = [];
  const rows = treeRows(obs.tree).filter((r) => r.path !== '/');
  const seen = new Set(rows.map((r) => r.path));
  for (const path of model.keys()) if (!seen.has(path)) problems.push(`${path}: missing from tree`);
  for (const row of rows) {
    const want = model.get(row.path);
    if (want === undefined) {
      problems.push(`${row.path}: in tree, not in the model`);
      continue;
    }
    if (row.kind !== want.kind) problems.push(`${row.path}: tree kind ${row.kind}, want ${want.kind}`);
    if (row.size !== want.size) problems.push(`${row.path}: tree size ${row.size}, want ${want.size}`);
    const s = JSON.parse(obs.stat[row.path] ?? '{}') as Record<string, unknown>;
    const expect: Record<string, unknown> = {
      kind: want.kind, mode: `0${want.mode.toString(8)}`, uid: want.uid, gid: want.gid, nlink: want.nlink, size: want.size, target: want.target,
    };
    for (const [k, v] of Object.entries(expect)) if (s[k] !== v) problems.push(`${row.path}: stat ${k} ${JSON.stringify(s[k])}, want ${JSON.stringify(v)}`);
    if (want.kind === 'file' && obs.cat[row.path] !== want.data!.toString('hex')) problems.push(`${row.path}: cat differs from the model's bytes`);
  }
  // Every directory lists exactly its children.
  for (const [dir, text] of Object.entries(obs.ls)) {
    const names = text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { name: string }).name).sort();
    const prefix = dir === '/' ? '/' : `${dir}/`;
    const want = [...model.keys()].filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length)).sort();
    if (JSON.stringify(names) !== JSON.stringify(want)) problems.push(`ls ${dir}: ${JSON.stringify(names)}, want ${JSON.stringify(want)}`);
  }
  return problems;
}
