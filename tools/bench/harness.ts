/**
 * Shared helpers for benchmarks: a timer, peak RSS sampling, scratch directories on the
 * disk being measured, and workload scaling.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Seconds taken by `fn`, with its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, value };
}

export class Stopwatch {
  #start = process.hrtime.bigint();
  restart(): void {
    this.#start = process.hrtime.bigint();
  }
  get seconds(): number {
    return Number(process.hrtime.bigint() - this.#start) / 1e9;
  }
}

/** Items per second. */
export function rate(items: number, seconds: number): number {
  return seconds > 0 ? items / seconds : Number.POSITIVE_INFINITY;
}

/** `n * scale`, rounded, and at least `min`. */
export function scaled(n: number, scale: number, min = 1): number {
  return Math.max(min, Math.round(n * scale));
}

// ---------------------------------------------------------------------------------------
// Peak RSS

/** Resident set size in bytes, now. */
export function rssNow(): number {
  return process.memoryUsage.rss();
}

async function readVmHwm(): Promise<number | null> {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(await readFile('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Resets the kernel's peak-RSS mark for this process (Linux: "5" > /proc/self/clear_refs). */
async function resetVmHwm(): Promise<boolean> {
  try {
    await writeFile('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Samples the peak RSS during a stretch of work. On Linux it resets the kernel's high-water
 * mark (VmHWM) at the start and reads it at the end, so short spikes are not missed; elsewhere,
 * or if that is not allowed, it samples `process.memoryUsage.rss()` every `everyMs` and falls
 * back to `process.resourceUsage().maxRSS` (a high-water mark since the process started).
 */
export class PeakRss {
  readonly #timer: NodeJS.Timeout;
  readonly #hwmReset: boolean;
  readonly baseline: number;
  #peak: number;
  /** Peak anonymous RSS (heap, buffers: what is not a mapped file such as LMDB's pages); null where unknown. */
  #anonPeak: number | null = null;
  #anonBaseline: number | null = null;

  private constructor(hwmReset: boolean, everyMs: number) {
    this.#hwmReset = hwmReset;
    this.baseline = rssNow();
    this.#peak = this.baseline;
    this.#sampleAnon(true);
    this.#timer = setInterval(() => {
      const r = rssNow();
      if (r > this.#peak) this.#peak = r;
      this.#sampleAnon(false);
    }, everyMs);
    this.#timer.unref();
  }

  #sampleAnon(first: boolean): void {
    void readFile('/proc/self/status', 'utf8').then(
      (s) => {
        const m = /^RssAnon:\s+(\d+) kB$/m.exec(s);
        if (!m) return;
        const v = Number(m[1]) * 1024;
        if (first) this.#anonBaseline = v;
        if (this.#anonPeak === null || v > this.#anonPeak) this.#anonPeak = v;
      },
      () => undefined,
    );
  }

  /** Peak anonymous RSS and its growth over the start (null off Linux). */
  get anon(): { peak: number; growth: number } | null {
    if (this.#anonPeak === null) return null;
    return { peak: this.#anonPeak, growth: Math.max(0, this.#anonPeak - (this.#anonBaseline ?? this.#anonPeak)) };
  }

  static async start(everyMs = 20): Promise<PeakRss> {
    return new PeakRss(await resetVmHwm(), everyMs);
  }

  /** Stops sampling; returns the peak RSS in bytes and the growth over the RSS at start. */
  async stop(): Promise<{ peak: number; growth: number }> {
    clearInterval(this.#timer);
    let peak = Math.max(this.#peak, rssNow());
    const hwm = this.#hwmReset ? await readVmHwm() : null;
    if (hwm !== null) peak = Math.max(peak, hwm);
    else if (!this.#hwmReset) peak = Math.max(peak, Math.min(process.resourceUsage().maxRSS * 1024, Number.MAX_SAFE_INTEGER));
    return { peak, growth: Math.max(0, peak - this.baseline) };
  }
}

export const MiB = 1024 * 1024;

let gcFn: (() => void) | null | undefined;

/**
 * Runs a full garbage collection, so a memory measurement starts from live data only. Uses
 * global.gc when node runs with --expose-gc, else turns the flag on for a fresh context.
 * Returns false when neither works.
 */
export function collectGarbage(): boolean {
  if (gcFn === undefined) {
    const g = (globalThis as { gc?: () => void }).gc;
    if (typeof g === 'function') gcFn = g;
    else {
      try {
        setFlagsFromString('--expose-gc');
        gcFn = runInNewContext('gc') as () => void;
      } catch {
        gcFn = null;
      }
    }
  }
  if (gcFn === null) return false;
  gcFn();
  return true;
}

// ---------------------------------------------------------------------------------------
// Scratch directories

/** Makes a fresh, empty directory `name` (suffixed to be unique) inside `parent`. */
export async function freshDir(parent: string, name: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  return mkdtemp(join(parent, `${name.replace(/[^a-z0-9-]+/gi, '-')}-`));
}

export interface WorkDir {
  readonly path: string;
  /** Removes the directory, unless it is to be kept. */
  cleanup(): Promise<void>;
}

/**
 * The scratch directory of a bench run: a fresh `realize-bench-*` directory inside `base` (the
 * user's --dir, so the disk is the one the user chose), else inside os.tmpdir(). Realize and
 * the anchor both write under it, so they run on the same disk. cleanup() removes it unless
 * `keep`.
 */
export async function makeWorkDir(base: string | undefined, keep = false): Promise<WorkDir> {
  const path = await freshDir(base === undefined ? tmpdir() : resolve(base), 'realize-bench');
  return {
    path,
    async cleanup(): Promise<void> {
      if (!keep) await rm(path, { recursive: true, force: true });
    },
  };
}

/**
 * How busy the machine was, for a footnote: CPUs, load average and (on Linux) the share of
 * time runnable tasks waited for a CPU. Benchmarks on a shared machine are only as good as this.
 */
export async function machineNote(): Promise<string> {
  const parts = [`${cpus().length} CPUs`, `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`];
  try {
    const m = /^some avg10=([\d.]+) avg60=([\d.]+) avg300=([\d.]+)/m.exec(await readFile('/proc/pressure/cpu', 'utf8'));
    if (m) parts.push(`CPU pressure (tasks waiting for a CPU) ${m[2]}% over the last minute, ${m[3]}% over 5 minutes`);
  } catch {
    // not Linux, or no PSI: the load average has to do
  }
  return `machine at the end of the run: ${parts.join('; ')}`;
}

/** Lets queued I/O callbacks and timers run (between phases, so one does not bleed into the next). */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 10));
}
