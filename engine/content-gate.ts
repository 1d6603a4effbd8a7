/**
 * Blocks are stored before the events that name them are applied, so a gc running between
 * the two would free them. Writers of content hold the gate shared for that window; gc
 * holds it alone, after in-flight writers finish, and new writers wait for it.
 */
export class ContentGate {
  #writers = 0;
  #drained: (() => void) | null = null;
  #gc: Promise<void> | null = null;

  /** Runs `fn` while blocks it stores cannot be collected. */
  async shared<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#gc !== null) await this.#gc;
    this.#writers++;
    try {
      return await fn();
    } finally {
      this.#writers--;
      if (this.#writers === 0) this.#drained?.();
    }
  }

  /** Runs `fn` with no writer between storing blocks and naming them. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#gc !== null) await this.#gc;
    let release!: () => void;
    this.#gc = new Promise<void>((r) => (release = r));
    try {
      if (this.#writers > 0) await new Promise<void>((r) => (this.#drained = r));
      this.#drained = null;
      return await fn();
    } finally {
      this.#gc = null;
      release();
    }
  }
}
