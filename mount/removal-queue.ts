/**
 * Unlinks answered once decided and applied a few at a time, as one entry: rm -rf makes one
 * unlink per file and waits for each answer, and an entry's own costs (its signature, encoding
 * and hash, its history and touch rows, the held rows' writes) were most of an unlink's time
 * on the JS thread. An unlink is decided on the head (Engine.decideNow) and answered at once;
 * its events wait here, and are applied together (Engine.stageDecided) before anything else
 * reaches the engine or the mount: every other request the mount handles applies them first
 * (ops.ts), so does every change or settle made through the engine (Engine.beforeChange), and
 * a timer (HOLD_MS).
 *
 * Only what is sure to apply as decided waits: a file with one name, in an area whose own feed
 * is open, with no integration under way (decideNow and stageDecided say so); anything else
 * is submitted at once, after what waits. At most MAX_HELD unlinks wait.
 */
import type { Command, Engine } from '../engine/index.js';
import type { FsEvent } from '../log/index.js';

/** Unlinks held at most before they are applied. */
export const MAX_HELD = 128;
/**
 * How long an unlink waits at most, ms: the held rows' period (projections/held-writes.ts). A
 * loaded machine stretches rm's round trip past a few milliseconds: a shorter wait made
 * batches of one to three there. Nothing through the mount nor the engine sees it wait.
 */
export const HOLD_MS = 25;

export interface RemovalQueueOptions {
  /** Runs the apply of removals the mount has answered already (AttrChanges.run). */
  readonly quietly: <T>(fn: () => T) => T;
  readonly onInternalError: (op: string, err: unknown) => void;
  /** Everything cached about paths may be wrong: a held removal could not be applied as answered. */
  readonly forgetCache: () => void;
}

export class RemovalQueue {
  readonly #engine: Engine;
  readonly #opts: RemovalQueueOptions;
  #area = '';
  #events: FsEvent[] = [];
  #cmds: Command[] = [];
  #timer: NodeJS.Timeout | null = null;
  readonly #apply = (): void => this.apply();

  constructor(engine: Engine, opts: RemovalQueueOptions) {
    this.#engine = engine;
    this.#opts = opts;
    engine.beforeChange.add(this.#apply);
  }

  /** Unlinks waiting. */
  get size(): number {
    return this.#events.length;
  }

  /**
   * Decides `cmd` (an unlink) and holds its events: the unlink's time when it is decided and
   * will be applied as decided (the caller answers it done); false when it must be submitted
   * instead (what waited is applied first): not a file's only name, or not decidable now.
   * Throws the decision's error (not found, a directory, ...).
   */
  hold(cmd: Command & { type: 'unlink' }): { time: number } | false {
    const decision = this.#engine.decideNow(cmd);
    if (decision === undefined) {
      this.apply();
      return false;
    }
    const event = decision.events[0];
    // A file's only name: with other names left, their nlink and ctime change too (the caller forgets the cache then).
    const node = event?.type === 'unlink' && decision.events.length === 1 ? this.#engine.view.node(event.id) : undefined;
    if (event === undefined || event.type !== 'unlink' || node === undefined || node.kind !== 'file' || node.nlink !== 1) {
      this.apply();
      return false;
    }
    if (this.#events.length > 0 && decision.area !== this.#area) this.apply();
    this.#area = decision.area;
    this.#events.push(event);
    this.#cmds.push(cmd);
    if (this.#events.length >= MAX_HELD) this.apply();
    else if (this.#timer === null) {
      this.#timer = setTimeout(this.#apply, HOLD_MS);
      this.#timer.unref();
    }
    return { time: event.time };
  }

  /** Applies what waits, as one entry (or, if that cannot be done now, as the commands it was decided from). */
  apply(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#events.length === 0) return;
    const events = this.#events;
    const cmds = this.#cmds;
    const area = this.#area;
    this.#events = [];
    this.#cmds = [];
    let staged: ReturnType<Engine['stageDecided']>;
    try {
      staged = this.#opts.quietly(() => this.#engine.stageDecided(area, events));
    } catch (err) {
      this.#failed(err);
      return;
    }
    if (staged !== false) {
      staged.durable.catch((err: unknown) => this.#opts.onInternalError('commit', err));
      return;
    }
    // An integration began (or the feed is not open): the commands go the usual way, in order.
    // Each is decided again then; the cache is forgotten since they may now decide otherwise.
    this.#opts.forgetCache();
    void (async () => {
      for (const cmd of cmds) {
        try {
          const { durable } = await this.#engine.submit(cmd);
          durable.catch((err: unknown) => this.#opts.onInternalError('commit', err));
        } catch (err) {
          this.#opts.onInternalError('unlink', err);
        }
      }
    })();
  }

  /** Ends the timer and the hook (what waits is applied). */
  close(): void {
    this.apply();
    this.#engine.beforeChange.delete(this.#apply);
  }

  #failed(err: unknown): void {
    this.#opts.onInternalError('unlink', err);
    this.#opts.forgetCache();
  }
}
