/**
 * The "given" of decider and projection tests: prior events applied, as signed entries of
 * one feed, to a fresh ProjectionSet in a temp dir, and a TreeView over it built the way
 * Engine builds its `view`. Ids and times are deterministic.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEntry, keyPairFromSeed, Signer, type Entry, type FsEvent, type NodeId } from '../../../log/index.js';
import { ProjectionSet, ROOT_ID } from '../../../projections/index.js';
import { ROOT_NODE, type DecideContext, type TreeView } from '../../../engine/index.js';
import type { HasTeardown } from './env.js';

/** Node id number n: 32 hex digits. */
export function nid(n: number): NodeId {
  return n.toString(16).padStart(32, '0');
}

/** A context with ids nid(start), nid(start + 1), ... and a fixed time. */
export function ctx(now = 2000, start = 0x100): DecideContext {
  let next = start;
  return { newId: () => nid(next++), now };
}

/** Block hash number n (32 bytes, never all zero). */
export function hashOf(n: number): Uint8Array {
  const h = new Uint8Array(32);
  h.fill(n & 0xff);
  h[0] = 0xa5;
  return h;
}

export function viewOf(p: ProjectionSet): TreeView {
  return {
    node: (id) => (id === ROOT_ID ? ROOT_NODE : p.tree.node(id)),
    child: (parent, name) => p.tree.child(parent, name),
    hasChildren: (id) => p.tree.hasChildren(id),
    isWithin: (id, ancestor) => p.tree.isWithin(id, ancestor),
    areaRoot: (area) => p.tree.areaRoot(area),
    xattr: (id, name) => p.xattrs.get(id, name),
  };
}

export interface Given {
  readonly set: ProjectionSet;
  readonly view: TreeView;
  /** Signs `events` into the next entry of the test feed (not applied). */
  entry(events: readonly FsEvent[]): Entry;
  /** Signs and applies one entry holding `events`; returns it. */
  apply(events: readonly FsEvent[]): Entry;
}

const signer = new Signer(keyPairFromSeed(new Uint8Array(32).fill(7)));
let count = 0;

/** A fresh ProjectionSet with `events` applied (one entry per inner list), closed on teardown. */
export async function given(t: HasTeardown, ...batches: ReadonlyArray<readonly FsEvent[]>): Promise<Given> {
  const dir = await mkdtemp(join(tmpdir(), `realize-spec-given-${count++}-`));
  const set = ProjectionSet.open(dir);
  t.teardown(async () => {
    await set.close();
    await rm(dir, { recursive: true, force: true });
  });
  let prev: Entry | null = null;
  const g: Given = {
    set,
    view: viewOf(set),
    entry(events) {
      const e: Entry = createEntry(
        {
          author: signer.publicKey,
          area: 'given',
          seq: prev === null ? 0 : prev.seq + 1,
          prev: prev === null ? null : prev.hash,
          hlc: 1_000_000 + (prev === null ? 0 : prev.seq + 1),
          heads: [],
          events: events as never,
        },
        signer,
      );
      prev = e;
      return e;
    },
    apply(events) {
      const e = g.entry(events);
      set.applyEntries([e]);
      return e;
    },
  };
  for (const b of batches) g.apply(b);
  return g;
}
