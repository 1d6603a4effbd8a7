/** The `--at POSITION` option every reading command takes, and the snapshot it names. */
import { Option } from 'commander';
import { resolvePosition, type Engine, type Snapshot } from '../engine/index.js';

export function atOption(): Option {
  return new Option('--at <position>', 'read the tree as it was at POSITION (head, @N, FEED:SEQ, a time like 2026-11-20T14:00 or -2h, or a tag)');
}

export async function snapshotAt(engine: Engine, at: string | undefined): Promise<Snapshot> {
  if (at === undefined) return engine.head;
  return engine.at((await resolvePosition(engine, at)).n);
}
