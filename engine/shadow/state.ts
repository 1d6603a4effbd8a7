/**
 * DIR/.realize-shadow.json: what a replay left in DIR. The mode (shadow or into), the
 * position it stands at ("head", or an --at position) and, per feed, how many entries that
 * position held and the hash of the last one. A later replay reads it to know DIR is its own
 * (it never writes into a non-empty directory without one) and what changed since.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from '../engine-error.js';

export const STATE_FILE = '.realize-shadow.json';

export type ShadowMode = 'shadow' | 'into';

export interface ShadowState {
  readonly format: 'realize-shadow';
  readonly version: 1;
  readonly mode: ShadowMode;
  readonly at: string;
  readonly position: Readonly<Record<string, { readonly length: number; readonly hash: string }>>;
}

export function encodeState(s: ShadowState): string {
  return `${JSON.stringify({ format: s.format, version: s.version, mode: s.mode, at: s.at, position: s.position }, null, 2)}\n`;
}

/** The state in DIR, or null when there is none. Throws on a damaged one. */
export async function readState(dir: string): Promise<ShadowState | null> {
  let text: string;
  try {
    text = await readFile(join(dir, STATE_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new EngineError('IO', `cannot read ${join(dir, STATE_FILE)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let j: Partial<ShadowState>;
  try {
    j = JSON.parse(text) as Partial<ShadowState>;
  } catch {
    throw new EngineError('INVALID', `${join(dir, STATE_FILE)} is damaged (not JSON); remove DIR and replay afresh`);
  }
  if (j.format !== 'realize-shadow' || j.version !== 1 || (j.mode !== 'shadow' && j.mode !== 'into') || typeof j.at !== 'string' || typeof j.position !== 'object' || j.position === null) {
    throw new EngineError('INVALID', `${join(dir, STATE_FILE)} is not a realize shadow state (format realize-shadow, version 1)`);
  }
  return j as ShadowState;
}

/** Writes the state (atomically), unless it is already what DIR holds. */
export async function writeState(dir: string, s: ShadowState): Promise<void> {
  const path = join(dir, STATE_FILE);
  const text = encodeState(s);
  const old = await readFile(path, 'utf8').catch(() => null);
  if (old === text) return;
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { flag: 'wx' });
  await rename(tmp, path);
}
