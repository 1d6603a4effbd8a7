/**
 * Ed25519 verification spread over worker threads. Verifying is the cost of checking a log
 * (~100 µs a signature against ~2 µs for everything else an entry needs), and it is
 * embarrassingly parallel: the main thread checks frames, structure and the hash chain,
 * the workers check signatures, one batch each, in order.
 *
 * The worker is plain CommonJS run with `eval` (it needs nothing but node:crypto), so it
 * starts without the TypeScript loader.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const SPKI = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map();
parentPort.on('message', ({ id, items }) => {
  const buf = Buffer.from(items.buffer, items.byteOffset, items.byteLength);
  const n = buf.length / 128;
  let bad = -1;
  for (let i = 0; i < n && bad < 0; i++) {
    const at = i * 128;
    const pub = buf.subarray(at, at + 32);
    const name = pub.toString('hex');
    let key = keys.get(name);
    if (!key) {
      key = createPublicKey({ key: Buffer.concat([SPKI, pub]), format: 'der', type: 'spki' });
      keys.set(name, key);
    }
    let ok = false;
    try { ok = verify(null, buf.subarray(at + 32, at + 64), key, buf.subarray(at + 64, at + 128)); } catch { ok = false; }
    if (!ok) bad = i;
  }
  parentPort.postMessage({ id, bad });
});
`;

/** One item: author key (32) || message hash (32) || signature (64). */
export const ITEM_BYTES = 128;

export class SignaturePool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, (bad: number) => void>();
  #next = 0;
  #turn = 0;

  constructor(size = Math.max(1, Math.min(4, availableParallelism()))) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true });
      w.on('message', ({ id, bad }: { id: number; bad: number }) => {
        const done = this.#pending.get(id);
        this.#pending.delete(id);
        done?.(bad);
      });
      this.#workers.push(w);
    }
  }

  /** Verifies a batch of packed items; resolves with the index of the first bad one, or -1. */
  verify(items: Uint8Array): Promise<number> {
    const id = this.#next++;
    const worker = this.#workers[this.#turn++ % this.#workers.length]!;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      worker.postMessage({ id, items }, [items.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
