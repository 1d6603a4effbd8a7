/**
 * A scratch rebuild's LMDB writes, made by a thread of their own (rebuild-writer-thread.ts).
 *
 * A rebuild's main thread was the bottleneck (its wall time is its CPU time) and about a third
 * of that was lmdb-js's puts: some 41,000 rows for the model log, each a native mdb_put with
 * its key written into lmdb-js's instruction buffer. While writes are shipped (held-writes.ts
 * ship), the main thread only encodes each batch's rows into one buffer, in the sub-database's
 * own key and value bytes, and hands it over; the writer thread puts them in one transaction
 * per batch while the main thread applies the next batch. Rows in flight stay readable from
 * memory until the writer says they are committed.
 *
 * Only for a place that is rebuilt and read by nothing else meanwhile (a scratch rebuild, no
 * undo records): the writer's commits pass around lmdb-js's cache of decoded rows in this
 * thread, so sub-databases must be opened without it.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from 'lmdb';
import { ProjectionError } from './projection-error.js';
import { REBUILD_WRITER_SOURCE } from './rebuild-writer-thread.js';

/**
 * Batches sent and not yet committed, at most: the rows of each stay in memory until then (the
 * write-back overlays keep two readable: ProjectionSet makes room before they hand one over).
 */
const IN_FLIGHT = 2;
/** lmdb-js's default largest key. */
const MAX_KEY_BYTES = 1978;
/** lmdb-js's encode modes: the value goes into the encoder's reused buffer, handed over with start/end. */
const REUSE_BUFFER_MODE = 512;
const RESET_BUFFER_MODE = 1024;
/** Bytes after the two counters of the shared state: the writer's error message. */
const MESSAGE_BYTES = 1024;

export const OP_PUT = 0;
export const OP_APPEND = 1;
export const OP_REMOVE = 2;

interface LmdbStore {
  readonly encoder?: { encode(v: unknown, mode?: number): Uint8Array | string; copyBuffers?: boolean } | null;
  writeKey(key: unknown, target: Uint8Array, at: number): number;
}

/** One batch's rows as the writer thread reads them. */
export class EncodedRows {
  buf: Buffer;
  length = 0;
  constructor(bytes: number) {
    this.buf = alloc(Math.max(64 * 1024, bytes));
  }

  #room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  /** A row of sub-database `index` (`db` encodes its key and value as lmdb-js would); value undefined with OP_REMOVE. */
  add(index: number, db: Database<any, any>, op: number, key: unknown, value: unknown): void {
    const store = db as unknown as LmdbStore;
    // The value's bytes: lmdb-js's start/end (offsets in the buffer's ArrayBuffer) when the encoder gave them.
    let bytes: Uint8Array = EMPTY;
    if (op !== OP_REMOVE) {
      const enc = store.encoder;
      let out: Uint8Array | string;
      if (enc != null && typeof enc.encode === 'function') out = enc.copyBuffers === true ? enc.encode(value, REUSE_BUFFER_MODE | RESET_BUFFER_MODE) : enc.encode(value);
      else if (typeof value === 'string' || value instanceof Uint8Array) out = value;
      else throw new ProjectionError('CORRUPT', `a row of ${typeof value} cannot be written without an encoder`);
      const vb = typeof out === 'string' ? Buffer.from(out) : out;
      const start = (vb as { start?: number }).start;
      bytes = start !== undefined && start > -1 ? new Uint8Array(vb.buffer, start, (vb as unknown as { end: number }).end - start) : vb;
    }
    const vl = bytes.byteLength;
    this.#room(8 + MAX_KEY_BYTES + vl);
    const buf = this.buf;
    const at = this.length;
    const keyEnd = store.writeKey(key, buf, at + 8);
    const kl = keyEnd - (at + 8);
    if (kl <= 0 || kl > MAX_KEY_BYTES) throw new ProjectionError('CORRUPT', `a row key of ${kl} bytes cannot be written`);
    buf[at] = index;
    buf[at + 1] = op;
    buf.writeUInt16LE(kl, at + 2);
    buf.writeUInt32LE(vl, at + 4);
    if (vl > 0) buf.set(bytes, keyEnd);
    this.length = keyEnd + vl;
  }
}

const EMPTY = new Uint8Array(0);

/** A buffer of its own ArrayBuffer (moved to the writer), a multiple of 8 bytes long (ordered-binary views it 4 bytes at a time). */
function alloc(bytes: number): Buffer {
  return Buffer.allocUnsafeSlow((bytes + 7) & ~7);
}

/** The one writer thread of the process (started by the first rebuild, kept for the next ones), and how many rebuilds use it. */
interface WriterThread {
  readonly worker: Worker;
  users: number;
  readonly closed: Map<number, () => void>;
}
let thread: WriterThread | null = null;
let nextId = 1;

function writerThread(): WriterThread {
  if (thread !== null) return thread;
  const lmdb = createRequire(import.meta.url).resolve('lmdb');
  const worker = new Worker(REBUILD_WRITER_SOURCE, { eval: true, name: 'rebuild-writer', workerData: { lmdb } });
  const t: WriterThread = { worker, users: 0, closed: new Map<number, () => void>() };
  worker.on('message', (m: { closed?: number }) => {
    if (m.closed !== undefined) t.closed.get(m.closed)?.();
  });
  const gone = (): void => {
    if (thread === t) thread = null;
    for (const done of t.closed.values()) done();
  };
  worker.on('error', gone);
  worker.on('exit', gone);
  worker.unref();
  thread = t;
  return t;
}

export class RebuildWriter {
  readonly #thread: WriterThread;
  readonly #id: number;
  readonly #state: Int32Array;
  readonly #shared: SharedArrayBuffer;
  #sent = 0;
  #open = true;

  private constructor(t: WriterThread, id: number, shared: SharedArrayBuffer) {
    this.#thread = t;
    this.#id = id;
    this.#shared = shared;
    this.#state = new Int32Array(shared, 0, 2);
  }

  /** A writer over the environment at `path`, writing the named sub-databases (indexes as in EncodedRows.add). */
  static start(path: string, names: ReadonlyArray<{ name: string; bufferKeys: boolean }>, env: { maxDbs: number; mapSize: number }): RebuildWriter {
    const t = writerThread();
    const shared = new SharedArrayBuffer(8 + MESSAGE_BYTES);
    const id = nextId++;
    // Held while a rebuild uses it (unreferenced between rebuilds: it does not keep the process alive).
    if (t.users++ === 0) t.worker.ref();
    t.worker.postMessage({ open: id, path, names, state: shared, ...env });
    return new RebuildWriter(t, id, shared);
  }

  /** Batches the writer committed (a batch is numbered by send, from 1). */
  get committed(): number {
    this.#check();
    return Atomics.load(this.#state, 0);
  }

  get sent(): number {
    return this.#sent;
  }

  #check(): void {
    if (Atomics.load(this.#state, 1) === 0) {
      if (thread === this.#thread) return;
      throw new ProjectionError('CORRUPT', "the rebuild's writer thread ended");
    }
    const text = Buffer.from(this.#shared, 8, MESSAGE_BYTES);
    const end = text.indexOf(0);
    throw new ProjectionError('CORRUPT', `the rebuild's writer failed: ${text.toString('utf8', 0, end < 0 ? MESSAGE_BYTES : end)}`);
  }

  /** Hands a batch's rows over (its buffer is moved to the writer); returns its number. Waits while IN_FLIGHT batches are not committed. */
  send(rows: EncodedRows): number {
    this.waitFor(this.#sent + 1 - IN_FLIGHT);
    const gen = ++this.#sent;
    const ab = rows.buf.buffer;
    this.#thread.worker.postMessage({ id: this.#id, gen, buf: ab, length: rows.length }, [ab as ArrayBuffer]);
    return gen;
  }

  /** Blocks this thread until batch `gen` is committed (the writer does not need this thread's event loop). */
  waitFor(gen: number): void {
    for (;;) {
      const now = this.committed;
      if (now >= gen) return;
      Atomics.wait(this.#state, 0, now, 1000);
    }
  }

  /** Waits for every batch, then closes the writer's handle of the environment. */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    const t = this.#thread;
    try {
      this.waitFor(this.#sent);
    } finally {
      if (thread === t) {
        await new Promise<void>((resolve) => {
          t.closed.set(this.#id, resolve);
          t.worker.postMessage({ close: this.#id });
        });
        t.closed.delete(this.#id);
      }
      if (--t.users === 0) t.worker.unref();
    }
  }
}
