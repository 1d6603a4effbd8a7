/**
 * Every registered benchmark, in the order `realize bench all` runs them. A new bench is one
 * file, tools/bench/<name>.ts, exporting a `Bench`, plus one `.add(...)` line here.
 */
import { logBench } from './log.js';
import { BenchRegistry } from './registry.js';

export const benches = new BenchRegistry().add(logBench);

export { type Bench, type BenchOptions, type BenchResult, type BenchRow, type Better, BenchRegistry } from './registry.js';
export { formatJsonLines, formatTable, toJsonRow, type JsonRow } from './report.js';
export { makeWorkDir } from './harness.js';
