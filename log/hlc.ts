/**
 * Hybrid logical clock: one safe integer, wall milliseconds times 1000 plus a logical
 * counter (safe until the year 2255; a burst of more than 1000 ticks in one millisecond
 * simply runs ahead of the wall clock, as a logical clock may). It never runs backwards, and `observe` folds in timestamps seen from
 * other feeds so that causally later entries always carry larger timestamps.
 */
export type Hlc = number;
const COUNTER_BITS = 1000;

export function hlcWallMs(hlc: Hlc): number {
  return Math.floor(hlc / COUNTER_BITS);
}

export function hlcFromWallMs(ms: number): Hlc {
  return ms * COUNTER_BITS;
}

export class HybridClock {
  #last: Hlc = 0;
  constructor(private readonly now: () => number) {}
  tick(): Hlc {
    const wall = hlcFromWallMs(this.now());
    this.#last = wall > this.#last ? wall : this.#last + 1;
    return this.#last;
  }
  observe(remote: Hlc): void {
    if (remote > this.#last) this.#last = remote;
  }
  get last(): Hlc {
    return this.#last;
  }
}
