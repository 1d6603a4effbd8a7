/**
 * What sync keeps in the store, beside the log (`<store>/sync/`):
 *
 *   follows.json  the areas this peer follows: a local setting, never replicated; written by
 *                 `realize area follow|unfollow|create`. An area it holds and has no setting
 *                 for is followed (areas made here sync unless unfollowed).
 *   state.json    written by the process that holds the store: acknowledgements (which
 *                 entries each peer holds), the areas each peer follows, what each peer held
 *                 when last seen, and per feed how far every block its entries name is held.
 *   live.json     written by `realize serve`: which peers are connected now.
 *
 * state.json is a summary that can lag (it is saved a moment after it changes, and when a
 * connection ends); losing its last changes in a crash costs a little re-sending, never data:
 * every connection starts by exchanging what each side holds.
 */
import { join } from 'node:path';
import { readJson, writeJson } from './json-file.js';

export interface PeerSeen {
  /** Wall time (ms) of the last exchange. */
  readonly at: number;
  /** What the peer said it held: feed -> length. */
  readonly feeds: Record<string, number>;
}

export interface StateFile {
  version: 1;
  /** peer key -> feed -> length the peer holds (acknowledged). */
  acks: Record<string, Record<string, number>>;
  /** peer key -> the areas it follows (as it last said). */
  peerFollows: Record<string, string[]>;
  /** peer key -> what it held when last seen. */
  seen: Record<string, PeerSeen>;
  /** feed -> length up to which every block its entries name is held here. */
  blocksDone: Record<string, number>;
}

export interface LiveFile {
  readonly pid: number;
  readonly listen: string | null;
  readonly updated: number;
  readonly peers: Record<string, { readonly connected: boolean; readonly since: number | null; readonly address: string | null }>;
}

export function syncDirOf(storeRoot: string): string {
  return join(storeRoot, 'sync');
}

export async function readFollows(storeRoot: string): Promise<Record<string, boolean>> {
  return readJson<Record<string, boolean>>(join(syncDirOf(storeRoot), 'follows.json'), {});
}

export async function writeFollows(storeRoot: string, follows: Record<string, boolean>): Promise<void> {
  await writeJson(join(syncDirOf(storeRoot), 'follows.json'), follows);
}

/** The areas followed: set to true, or held here and not set to false. */
export function followedAreas(settings: Record<string, boolean>, held: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const a of held) if (settings[a] !== false) out.add(a);
  for (const [a, on] of Object.entries(settings)) if (on) out.add(a);
  return out;
}

export async function readLive(storeRoot: string): Promise<LiveFile | null> {
  return readJson<LiveFile | null>(join(syncDirOf(storeRoot), 'live.json'), null);
}

export async function writeLive(storeRoot: string, live: LiveFile): Promise<void> {
  await writeJson(join(syncDirOf(storeRoot), 'live.json'), live, false);
}

export class SyncState {
  readonly path: string;
  readonly data: StateFile;
  #timer: NodeJS.Timeout | null = null;
  #saving: Promise<void> = Promise.resolve();
  #dirty = false;

  private constructor(path: string, data: StateFile) {
    this.path = path;
    this.data = data;
  }

  static async open(storeRoot: string): Promise<SyncState> {
    const path = join(syncDirOf(storeRoot), 'state.json');
    const d = await readJson<Partial<StateFile>>(path, {});
    return new SyncState(path, { version: 1, acks: d.acks ?? {}, peerFollows: d.peerFollows ?? {}, seen: d.seen ?? {}, blocksDone: d.blocksDone ?? {} });
  }

  /** Notes a change; it is saved within `delayMs`. */
  touch(delayMs = 200): void {
    this.#dirty = true;
    if (this.#timer === null) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.save().catch(() => undefined);
      }, delayMs);
      this.#timer.unref();
    }
  }

  async save(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#saving = this.#saving.then(async () => {
      if (!this.#dirty) return;
      this.#dirty = false;
      await writeJson(this.path, this.data);
    });
    await this.#saving;
  }
}
