/**
 * Listings handed ahead to the patched addon (Fuse.listingFill): a traversal (find, du, ls -R,
 * rsync's scan) reads one directory after another, each a readdir through the JS thread, where
 * the listing itself is a few microseconds an entry and the round trip the most of its time.
 * When a readdir reaching JS follows one of its parent or of a sibling (with nothing changed
 * between: the addon's generation), the listings of the siblings after it, in listing order,
 * are handed over with its answer, so their readdirs are answered on the FUSE threads. Bounded
 * (MAX_DIRS listings, MAX_ENTRIES names a fill, none of a directory past MAX_LISTING); the addon keeps them under the attribute
 * cache's rules (the same generation, 1 s at most; an unlink or rmdir drops its directory's).
 */
import type { NodeInfo, Snapshot } from '../engine/index.js';
import { listingMode } from './attr.js';

/** Listings handed over at most in one fill, names in all of them, and in one (a bigger directory is left to JS). */
export const MAX_DIRS = 256;
export const MAX_ENTRIES = 16_384;
export const MAX_LISTING = 1024;

type Entry = ReturnType<Snapshot['readdirKinds']>[number];

/** The addon's side (Fuse.listingFill / Fuse.attrGeneration); a fake in the specs. */
export interface ListingSink {
  fill(paths: string, names: string, counts: Float64Array, kinds: Float64Array): number;
  generation(): number;
}

/**
 * A directory's listing in the patch's form: "." and ".." (both with the directory's type and
 * inode number: libfuse 2 passes on nothing else of them), then each entry's name, each
 * followed by a NUL, and (mode, ino) per name written into `kinds` from `at`.
 */
export function listingForm(dir: { readonly kind: NodeInfo['kind']; readonly ino: number }, entries: readonly Entry[], kinds: Float64Array, at = 0): string {
  kinds[at] = kinds[at + 2] = listingMode(dir.kind);
  kinds[at + 1] = kinds[at + 3] = dir.ino;
  let names = '.\0..\0';
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    names += `${e.name}\0`;
    kinds[at + 2 * i + 4] = listingMode(e.kind);
    kinds[at + 2 * i + 5] = e.ino;
  }
  return names;
}

const parentOf = (path: string): string => path.slice(0, Math.max(0, path.lastIndexOf('/'))) || '/';

export class ListingPrefetch {
  readonly #reader: Snapshot;
  readonly #sink: ListingSink;
  readonly #maxDirs: number;
  readonly #maxEntries: number;
  /** The last path whose readdir reached JS, and the generation then. */
  #last = '';
  #generation = -1;

  constructor(reader: Snapshot, sink: ListingSink, limits: { readonly dirs?: number; readonly entries?: number } = {}) {
    this.#reader = reader;
    this.#sink = sink;
    this.#maxDirs = limits.dirs ?? MAX_DIRS;
    this.#maxEntries = limits.entries ?? MAX_ENTRIES;
  }

  /** A readdir of `path` reached JS (and was answered): hands over its next siblings' listings when a traversal is under way. */
  listed(path: string): void {
    const generation = this.#sink.generation();
    if (generation < 0) return;
    const parent = parentOf(path);
    const traversal = generation === this.#generation && this.#last !== path && (this.#last === parent || parentOf(this.#last) === parent);
    this.#last = path;
    this.#generation = generation;
    // Not the root's nor an area's entries: their listings are answered by JS.
    if (!traversal || parent.lastIndexOf('/') <= 0) return;
    let siblings: Entry[];
    try {
      siblings = this.#reader.readdirKinds(parent);
    } catch {
      return;
    }
    const name = path.slice(parent.length + 1);
    let i = siblings.findIndex((e) => e.name === name);
    if (i < 0) return;
    const listings: Array<{ readonly path: string; readonly dir: Entry; readonly entries: Entry[] }> = [];
    let total = 0;
    for (i++; i < siblings.length && listings.length < this.#maxDirs; i++) {
      const dir = siblings[i]!;
      if (dir.kind !== 'dir') continue;
      const at = `${parent}/${dir.name}`;
      let entries: Entry[];
      try {
        entries = this.#reader.readdirKinds(at);
      } catch {
        continue;
      }
      // The addon keeps what it is handed until the slot is taken again: its memory stays bounded.
      if (entries.length > MAX_LISTING) continue;
      if (total + entries.length + 2 > this.#maxEntries) break;
      total += entries.length + 2;
      listings.push({ path: at, dir, entries });
    }
    if (listings.length === 0) return;
    const kinds = new Float64Array(2 * total);
    const counts = new Float64Array(listings.length);
    let paths = '';
    let names = '';
    let at = 0;
    for (let k = 0; k < listings.length; k++) {
      const l = listings[k]!;
      paths += `${l.path}\0`;
      names += listingForm(l.dir, l.entries, kinds, at);
      counts[k] = l.entries.length + 2;
      at += 2 * (l.entries.length + 2);
    }
    this.#sink.fill(paths, names, counts, kinds);
  }
}
