/**
 * Read-ahead for on-demand reads: when a file is read block after block, the blocks past the
 * read are asked for before the reads reach them, in a window that doubles while the reads
 * stay sequential (up to `max` blocks), as the kernel's page-cache read-ahead does. A read
 * elsewhere in the file starts over; a single random read fetches only what it touches.
 *
 * The window is topped up each time the reads have used a quarter of it, so the peer always
 * has most of a window to send and never waits for the next request (at the largest window,
 * 24-32 MiB are asked for and not yet read: enough for the scheduling delays of a loaded
 * machine at a few hundred MB/s, and what a read that stops leaves fetched for nothing).
 */
const DEFAULT_MIN = 4;
/** 32 MiB of 128 KiB blocks. */
const DEFAULT_MAX = 256;
const MAX_FILES = 1024;
/** How far behind the last read a read may land and still count as sequential. */
const REORDER = 16;

interface State {
  /** The last block read. */
  last: number;
  /** Blocks up to this index were asked for already. */
  ahead: number;
  window: number;
}

export class Readahead {
  readonly #min: number;
  readonly #max: number;
  readonly #files = new Map<string, State>();

  constructor(opts: { min?: number; max?: number } = {}) {
    this.#min = opts.min ?? DEFAULT_MIN;
    this.#max = opts.max ?? DEFAULT_MAX;
  }

  /**
   * A read covered blocks [first, index] of file `key` (which has `count` blocks): the block
   * indexes to ask for ahead of it now (possibly none).
   */
  onRead(key: string, first: number, index: number, count: number): number[] {
    let st = this.#files.get(key);
    // Reads in flight together (the kernel's own read-ahead) may finish out of order: a read a
    // little behind the last one, or anywhere up to what was asked for, is still sequential.
    const near = st !== undefined && first >= st.last - REORDER && first <= Math.max(st.ahead, st.last) + 1;
    if (st === undefined || !near) {
      // A first read, or a jump: no read-ahead until the reads show a direction.
      if (st === undefined && this.#files.size >= MAX_FILES) this.#files.delete(this.#files.keys().next().value!);
      this.#files.set(key, { last: index, ahead: index, window: 0 });
      return [];
    }
    st.last = Math.max(st.last, index);
    index = st.last;
    if (st.window === 0) st.window = this.#min;
    // Ask for more once the reads have used a quarter of the window.
    if (st.ahead - index > st.window - Math.max(1, Math.floor(st.window / 4))) return [];
    st.window = Math.min(this.#max, st.window * 2);
    const from = Math.max(st.ahead, index) + 1;
    const to = Math.min(count - 1, index + st.window);
    st.ahead = Math.max(st.ahead, to);
    const out: number[] = [];
    for (let i = from; i <= to; i++) out.push(i);
    return out;
  }

  forget(key: string): void {
    this.#files.delete(key);
  }
}
