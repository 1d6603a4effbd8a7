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
import type Fuse from 'fuse-native';
import type { Engine, NodeId, StatFields } from '../engine/index.js';

/** Entries of a directory handed over at most. */
export const MAX_FILL = 1024;

/** The addon's side (Fuse.attrFill / Fuse.attrGeneration); a fake in the specs. */
export interface AttrSink {
  fill(paths: string[], stats: Fuse.Stat[]): number;
  generation(): number;
}

export class AttrFill {
  readonly #engine: Engine;
  readonly #sink: AttrSink;
  /** The attributes of a node as getattr answers them, or undefined to leave it out. */
  readonly #statOf: (id: NodeId, fields: StatFields) => Fuse.Stat | undefined;
  /** The directory of the last getattr that reached JS, the generation then, and whether it was handed over. */
  #dir = '';
  #generation = -1;
  #done = false;

  constructor(engine: Engine, sink: AttrSink, statOf: (id: NodeId, fields: StatFields) => Fuse.Stat | undefined) {
    this.#engine = engine;
    this.#sink = sink;
    this.#statOf = statOf;
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
    const paths: string[] = [];
    const stats: Fuse.Stat[] = [];
    // Each node's stat fields read from its rows' stored bytes (Snapshot.statFields): no
    // NodeInfo, nothing else of the rows decoded, nothing kept decoded (a fill reads each once).
    for (const { name, id: child } of entries) {
      const fields = head.statFields(child);
      const stat = fields === undefined ? undefined : this.#statOf(child, fields);
      if (stat === undefined) continue;
      paths.push(`${dir}/${name}`);
      stats.push(stat);
    }
    if (paths.length > 0) this.#sink.fill(paths, stats);
  }
}
