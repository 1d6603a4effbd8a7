/**
 * Reads that failed because content was not here and could not be fetched, per file: when,
 * and why. Kept by the process serving reads (mount, serve) and written, a moment after it
 * changes, to `<store>/placement/unavailable.json`, so that `realize status` (another
 * process) can say which files are unavailable and why. A file leaves the list when a fetch
 * for it succeeds.
 */
import { join } from 'node:path';
import type { NodeId } from '../../log/index.js';
import { readJson, writeJson } from '../sync/json-file.js';
import { placementDir } from './config.js';

export interface Unavailable {
  /** Wall time (ms) of the last failed read. */
  readonly at: number;
  readonly reason: string;
}

export type UnavailableFile = Record<NodeId, Unavailable>;

const MAX_FILES = 1000;

export function unavailablePath(storeRoot: string): string {
  return join(placementDir(storeRoot), 'unavailable.json');
}

export async function readUnavailable(storeRoot: string): Promise<UnavailableFile> {
  return readJson<UnavailableFile>(unavailablePath(storeRoot), {}).catch(() => ({}));
}

export class UnavailableLog {
  readonly #path: string;
  readonly #files = new Map<NodeId, Unavailable>();
  #timer: NodeJS.Timeout | null = null;
  #saving: Promise<void> = Promise.resolve();
  #loaded = false;
  /** Files that succeeded before the file was read: not taken back from it. */
  readonly #cleared = new Set<NodeId>();
  readonly #root: string;

  constructor(storeRoot: string) {
    this.#root = storeRoot;
    this.#path = unavailablePath(storeRoot);
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    this.#loaded = true;
    const old = await readUnavailable(this.#root);
    for (const [id, u] of Object.entries(old)) if (!this.#files.has(id) && !this.#cleared.has(id)) this.#files.set(id, u);
    this.#cleared.clear();
  }

  failed(id: NodeId, reason: string, at: number): void {
    this.#cleared.delete(id);
    this.#files.delete(id);
    this.#files.set(id, { at, reason });
    while (this.#files.size > MAX_FILES) this.#files.delete(this.#files.keys().next().value!);
    this.#schedule();
  }

  succeeded(id: NodeId): void {
    if (!this.#loaded) {
      if (this.#cleared.has(id)) return;
      this.#cleared.add(id);
      this.#files.delete(id);
      this.#schedule();
    } else if (this.#files.delete(id)) this.#schedule();
  }

  get(id: NodeId): Unavailable | undefined {
    return this.#files.get(id);
  }

  #schedule(): void {
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.save().catch(() => undefined);
    }, 200);
    this.#timer.unref();
  }

  async save(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#saving = this.#saving.then(async () => {
      await this.#load();
      await writeJson(this.#path, Object.fromEntries(this.#files), false);
    });
    await this.#saving;
  }
}
