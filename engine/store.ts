/**
 * A store on disk: identity, feeds, and (later) projections and blocks. `initStore` makes
 * one; `openStore` opens one, for writing (locked, one writer) or read-only.
 */
import { mkdir, open, readdir, readFile } from 'node:fs/promises';
import { FeedSet, HybridClock, Signer, syncDir, type Recovery } from '../log/index.js';
import { EngineError } from './engine-error.js';
import { createIdentity, loadIdentity, loadPublicKey } from './identity.js';
import { acquireLock } from './store-lock.js';
import { storeLayout, STORE_FORMAT, STORE_VERSION, type StoreLayout } from './store-layout.js';

export interface StoreEnv {
  readonly now: () => number;
  readonly randomBytes: (n: number) => Uint8Array;
}

export interface OpenOptions {
  readonly readOnly?: boolean;
  readonly onRecovery?: (r: Recovery) => void;
}

export class Store {
  private constructor(
    readonly layout: StoreLayout,
    readonly publicKey: string,
    readonly feeds: FeedSet,
    readonly clock: HybridClock,
    readonly readOnly: boolean,
    private readonly release: () => Promise<void>,
  ) {}

  static async open(root: string, env: StoreEnv, opts: OpenOptions = {}): Promise<Store> {
    const layout = storeLayout(root);
    await checkMarker(layout);
    const readOnly = opts.readOnly === true;
    const release = readOnly ? async () => undefined : await acquireLock(layout.lock, root);
    try {
      const clock = new HybridClock(env.now);
      const publicKey = await loadPublicKey(layout);
      const signer = readOnly ? undefined : new Signer(await loadIdentity(layout));
      const feeds = await FeedSet.open(layout.feeds, { readOnly, clock, onRecovery: opts.onRecovery, ...(signer ? { signer } : {}) });
      return new Store(layout, publicKey, feeds, clock, readOnly, release);
    } catch (err) {
      await release();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.feeds.close();
    await this.release();
  }
}

async function checkMarker(layout: StoreLayout): Promise<void> {
  let text: string;
  try {
    text = await readFile(layout.marker, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new EngineError('NOT_A_STORE', `${layout.root} is not a Realize store (${code === 'ENOENT' ? 'no realize-store.json; create one with `realize init`' : code}).`, { cause: err });
  }
  let marker: { format?: unknown; version?: unknown };
  try {
    marker = JSON.parse(text) as typeof marker;
  } catch {
    throw new EngineError('NOT_A_STORE', `${layout.marker} is damaged (not JSON)`);
  }
  if (marker.format !== STORE_FORMAT) throw new EngineError('NOT_A_STORE', `${layout.root} is not a Realize store (${layout.marker} names another format)`);
  if (marker.version !== STORE_VERSION) throw new EngineError('NOT_A_STORE', `${layout.root} is a version ${String(marker.version)} store; this realize reads version ${STORE_VERSION}`);
}

/** Creates a new store with a fresh identity. Refuses a directory that holds anything. */
export async function initStore(root: string, env: StoreEnv): Promise<{ layout: StoreLayout; publicKey: string }> {
  const layout = storeLayout(root);
  await mkdir(root, { recursive: true });
  const existing = await readdir(root);
  if (existing.includes('realize-store.json')) {
    throw new EngineError('STORE_EXISTS', `${root} already holds a Realize store; refusing to overwrite it`);
  }
  if (existing.length > 0) throw new EngineError('STORE_EXISTS', `${root} is not empty; a new store needs an empty or missing directory`);
  const pair = await createIdentity(layout, env.randomBytes);
  await mkdir(layout.feeds, { recursive: true });
  const fh = await open(layout.marker, 'wx', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify({ format: STORE_FORMAT, version: STORE_VERSION })}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await syncDir(root);
  return { layout, publicKey: Buffer.from(pair.publicKey).toString('hex') };
}
