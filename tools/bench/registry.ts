/**
 * The benchmark registry: a name -> run(options) table. Each benchmark is one file,
 * tools/bench/<name>.ts, exporting a `Bench`; tools/bench/index.ts lists them in the
 * order `realize bench all` runs them. A bench measures Realize and its anchor (the
 * outside tool it is compared with) on the same machine, the same disk and in the same
 * run, and returns rows; the printer (report.ts) turns them into the table or JSON lines.
 */

/** Which way is better for a row's unit. */
export type Better = 'higher' | 'lower';

export interface BenchRow {
  /** What was done, e.g. "durable append, batches of 100, awaited". */
  readonly workload: string;
  /** e.g. "events/s", "s", "MiB". */
  readonly unit: string;
  /** Realize's figure, or null when this run could not measure it. */
  readonly realize: number | null;
  /** The anchor's name, e.g. "hypercore 11.37.1". */
  readonly anchor: string;
  /** The anchor's figure on the same workload, or null when it could not run (not installed...). */
  readonly anchorValue: number | null;
  /** Defaults from the unit: rates ("…/s") are better higher, everything else (times, bytes) lower. */
  readonly better?: Better;
}

export interface BenchResult {
  readonly rows: readonly BenchRow[];
  /** Footnotes printed under the table (not in --json): durability caveats, what was compared. */
  readonly notes: readonly string[];
}

export interface BenchOptions {
  /** An empty directory the bench may fill; it is removed afterwards unless the user chose it. */
  readonly dir: string;
  /** Multiplies the workload sizes: 1 is the full run, 0.01 a quick check. */
  readonly scale: number;
  /** Runs of each workload; a bench reports the median. */
  readonly repeat: number;
  /** Shows a progress line (on a TTY, not with --json; otherwise nothing). */
  readonly progress: (text: string) => void;
}

export interface Bench {
  readonly name: string;
  readonly description: string;
  run(options: BenchOptions): Promise<BenchResult>;
}

export class BenchRegistry {
  readonly #benches = new Map<string, Bench>();

  add(bench: Bench): this {
    if (!/^[a-z][a-z0-9-]*$/.test(bench.name)) throw new Error(`bad bench name ${JSON.stringify(bench.name)}`);
    if (bench.name === 'all') throw new Error('"all" is not a bench name: it runs them all');
    if (this.#benches.has(bench.name)) throw new Error(`bench ${bench.name} is registered twice`);
    this.#benches.set(bench.name, bench);
    return this;
  }

  get(name: string): Bench | undefined {
    return this.#benches.get(name);
  }

  /** In registration order. */
  list(): Bench[] {
    return [...this.#benches.values()];
  }

  names(): string[] {
    return [...this.#benches.keys()];
  }
}
