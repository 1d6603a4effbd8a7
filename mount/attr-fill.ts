/**
 * What the mount hands the patched addon's attribute cache (fuse-native.c, Fuse.attrFill): the
 * FUSE threads answer a getattr of a cached path themselves, without a round trip through the
 * JS thread, until anything changes (the addon's generation moves on every request that can
 * change something, every staged write, and every change the engine applies: see
 * Engine.headChanged), or for 1 s at most.
 *
 * When a getattr reaching JS is the second in a row in the same directory with nothing changed
 * between them (a stat of one entry after another: ls -l, find, git status, a backup), the
 * attributes of all the directory's entries are handed over at once, so the rest of its stats
 * never reach JS. A directory of more than MAX_FILL entries is not handed over (the cost of a
 * fill stays bounded); nor is a node whose data is still in the write cache (its attributes
 * follow writes that JS takes), nor the root and the areas.
 */
import type { Engine, NodeId, StatFields } from '../engine/index.js';
import { packStat, STAT_DOUBLES } from './attr.js';

/** Entries of a directory handed over at most. */
export const MAX_FILL = 1024;

/** The addon's side (Fuse.attrFillPacked / Fuse.attrGeneration); a fake in the specs. */
export interface AttrSink {
  /** `paths`: each followed by a NUL; `stats`: STAT_DOUBLES per path (attr.ts packStat), maybe more. */
  fill(paths: string, stats: Float64Array): number;
  generation(): number;
}

export class AttrFill {
  readonly #engine: Engine;
  readonly #sink: AttrSink;
  /** Whether a node's attributes are handed over (false: getattr must reach JS for them). */
  readonly #handed: (id: NodeId, fields: StatFields) => boolean;
  /** The directory of the last getattr that reached JS, the generation then, and whether it was handed over. */
  #dir = '';
  #generation = -1;
  #done = false;

  constructor(engine: Engine, sink: AttrSink, handed: (id: NodeId, fields: StatFields) => boolean) {
    this.#engine = engine;
    this.#sink = sink;
    this.#handed = handed;
  }

  /** A getattr of `path` reached JS; `dirId` resolves its directory's id (throws: not handed over). */
  missed(path: string, dirId: (dir: string) => NodeId): void {
    const cut = path.lastIndexOf('/');
    if (cut <= 0) return;
    const dir = path.slice(0, cut);
    const generation = this.#sink.generation();
    if (generation < 0) return;
    if (dir !== this.#dir || generation !== this.#generation) {
      this.#dir = dir;
      this.#generation = generation;
      this.#done = false;
      return;
    }
    if (this.#done) return;
    this.#done = true;
    let id: NodeId;
    try {
      id = dirId(dir);
    } catch {
      return;
    }
    const head = this.#engine.head;
    const entries: Array<{ readonly name: string; readonly id: NodeId }> = [];
    for (const e of head.source.children(id)) {
      if (entries.length === MAX_FILL) return; // too big: nothing handed over
      entries.push(e);
    }
    let paths = '';
    let count = 0;
    const stats = new Float64Array(STAT_DOUBLES * entries.length);
    // Each node's stat fields read from its rows' stored bytes (Snapshot.statFields): no
    // NodeInfo, nothing else of the rows decoded, nothing kept decoded (a fill reads each once);
    // written straight into the addon's layout.
    const prefix = `${dir}/`;
    for (const { name, id: child } of entries) {
      const fields = head.statFields(child);
      if (fields === undefined || !this.#handed(child, fields)) continue;
      packStat(stats, STAT_DOUBLES * count++, fields);
      paths += `${prefix}${name}\0`;
    }
    if (count > 0) this.#sink.fill(paths, stats);
  }
}
