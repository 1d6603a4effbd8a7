/**
 * Writes shadow documents in batches from writer threads (doc-writer-thread.ts): the replay
 * queues (kind, path, text) as it walks, each full batch goes to the least busy thread, and
 * at most `window` batches are in flight, so memory stays bounded whatever the size of the
 * tree. Directories are made by the replay itself before any document inside them is queued,
 * so batches need no order among themselves.
 */
import { Worker } from 'node:worker_threads';
import { EngineError } from '../engine-error.js';
import { DOC_WRITER_SOURCE } from './doc-writer-thread.js';

export const DocOp = {
  /** Create the file; nothing stands there. */
  New: 0,
  /** A file stands there: keep it if it holds these bytes, else replace it. */
  Compare: 1,
  /** Replace whatever stands there (not a directory) by rename. */
  Replace: 2,
} as const;
export type DocOp = (typeof DocOp)[keyof typeof DocOp];

export interface DocWriterTotals {
  written: number;
  unchanged: number;
  bytes: number;
}

interface Reply {
  readonly seq: number;
  readonly written: number;
  readonly unchanged: number;
  readonly bytes: number;
  readonly error?: { readonly message: string; readonly code?: string; readonly path: string };
}

type Op = [DocOp, string, string, string];

export interface DocWriterOptions {
  /** Writer threads. */
  readonly threads?: number;
  /** Documents per batch. */
  readonly batch?: number;
  /** Batches in flight per thread. */
  readonly window?: number;
}

export class DocWriter {
  readonly totals: DocWriterTotals = { written: 0, unchanged: 0, bytes: 0 };
  readonly #workers: Worker[] = [];
  readonly #busy: number[] = [];
  readonly #batchSize: number;
  readonly #maxInFlight: number;
  #ops: Op[] = [];
  #seq = 0;
  #inFlight = 0;
  #error: Error | null = null;
  #wake: Array<() => void> = [];
  #closed = false;

  constructor(opts: DocWriterOptions = {}) {
    const threads = Math.max(1, opts.threads ?? 1);
    this.#batchSize = Math.max(1, opts.batch ?? 256);
    this.#maxInFlight = threads * Math.max(1, opts.window ?? 2);
    for (let i = 0; i < threads; i++) {
      const w = new Worker(DOC_WRITER_SOURCE, { eval: true });
      w.on('message', (r: Reply) => this.#done(i, r));
      w.on('error', (err) => this.#fail(err));
      w.on('exit', (code) => {
        if (!this.#closed) this.#fail(new EngineError('IO', `the shadow writer thread stopped (exit code ${code})`));
      });
      this.#workers.push(w);
      this.#busy.push(0);
    }
  }

  #done(i: number, r: Reply): void {
    this.#busy[i]!--;
    this.#inFlight--;
    this.totals.written += r.written;
    this.totals.unchanged += r.unchanged;
    this.totals.bytes += r.bytes;
    if (r.error !== undefined) {
      const e = r.error;
      this.#fail(new EngineError('IO', `cannot write ${e.path}: ${e.code ?? e.message}`));
    }
    this.#notify();
  }

  #fail(err: Error): void {
    this.#error ??= err;
    this.#notify();
  }

  #notify(): void {
    for (const r of this.#wake.splice(0)) r();
  }

  #check(): void {
    if (this.#error !== null) throw this.#error;
  }

  /** Queues a document; waits when too many batches are in flight. */
  async add(kind: DocOp, path: string, text: string, tmp = ''): Promise<void> {
    this.#check();
    this.#ops.push([kind, path, text, tmp]);
    if (this.#ops.length >= this.#batchSize) await this.#send();
  }

  async #send(): Promise<void> {
    while (this.#inFlight >= this.#maxInFlight && this.#error === null) await new Promise<void>((r) => this.#wake.push(r));
    this.#check();
    const ops = this.#ops;
    this.#ops = [];
    let i = 0;
    for (let j = 1; j < this.#busy.length; j++) if (this.#busy[j]! < this.#busy[i]!) i = j;
    this.#busy[i]!++;
    this.#inFlight++;
    this.#workers[i]!.postMessage({ seq: this.#seq++, ops });
  }

  /** Sends what is queued and waits until every document is written; throws the first failure. */
  async drain(): Promise<void> {
    if (this.#ops.length > 0) await this.#send();
    while (this.#inFlight > 0 && this.#error === null) await new Promise<void>((r) => this.#wake.push(r));
    this.#check();
  }

  /** Stops the threads (after drain, or to give up). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
