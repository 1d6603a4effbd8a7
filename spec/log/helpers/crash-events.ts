/**
 * What the crash-test child appends: the events of entry `seq` are a pure function of `seq`
 * (seeded by it), so the parent can check every entry's contents after any crash without
 * being told what was written. Sizes vary from a few bytes to ~12 KiB, so kills land in
 * the middle of frames, between frames and during segment rollover.
 */
import { type CborValue } from '../../../log/index.js';
import { keyFor, seededRandom } from './util.js';

/** The label of the crash store's identity (keyFor(CRASH_KEY_LABEL)). */
export const CRASH_KEY_LABEL = 'crash-test';
/** Small segments, so that rollover happens every few batches. */
export const CRASH_SEGMENT_BYTES = 48 * 1024;

export function crashKey(): ReturnType<typeof keyFor> {
  return keyFor(CRASH_KEY_LABEL);
}

export function eventsFor(seq: number): CborValue[] {
  const rnd = seededRandom((Math.imul(seq, 2654435761) ^ 0x5eed5eed) >>> 0);
  const n = 1 + Math.floor(rnd() * 3);
  const events: CborValue[] = [];
  for (let i = 0; i < n; i++) {
    const len = Math.floor(rnd() * rnd() * 4096);
    const data = new Uint8Array(len);
    for (let j = 0; j < len; j++) data[j] = Math.floor(rnd() * 256);
    events.push({ type: 'write', seq, i, offset: Math.floor(rnd() * 2 ** 40), delta: -Math.floor(rnd() * 1000), path: `/crash/ü/${seq % 97}`, data });
  }
  return events;
}
