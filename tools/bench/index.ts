/**
 * Every registered benchmark, in the order `realize bench all` runs them. A new bench is one
 * file, tools/bench/<name>.ts, exporting a `Bench`, plus one `.add(...)` line here.
 */
import { logBench } from './log.js';
import { syncBench } from './sync.js';
import { placementBench } from './placement.js';
import { modelBench } from './model.js';
import { mountBench } from './mount.js';
import { replayBench } from './replay.js';
import { BenchRegistry } from './registry.js';
import { timetravelBench } from './timetravel.js';

export const benches = new BenchRegistry().add(logBench).add(timetravelBench).add(replayBench).add(modelBench).add(mountBench).add(syncBench).add(placementBench);

export { type Bench, type BenchOptions, type BenchResult, type BenchRow, type Better, BenchRegistry } from './registry.js';
export { formatJsonLines, formatTable, toJsonRow, type JsonRow } from './report.js';
export { machineNote, makeWorkDir } from './harness.js';
