/** Hand-made entries of one area and a fresh projection set, for the projection specs. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEntry, keyPairFromSeed, Signer, type Entry, type FsEvent } from '../../../log/index.js';
import { ProjectionSet } from '../../../projections/index.js';

/** A feed of area `home` signed by the key of `seed`: makes entry `seq` after `prev`. */
export function feedOf(seed: number): (seq: number, hlc: number, events: FsEvent[], prev: Entry | null) => Entry {
  const signer = new Signer(keyPairFromSeed(new Uint8Array(32).fill(seed)));
  return (seq, hlc, events, prev) => createEntry({ author: signer.publicKey, area: 'home', seq, prev: prev?.hash ?? null, hlc, heads: [], events: events as never }, signer);
}

/** An empty projection set in a temporary directory, closed and removed on teardown. */
export async function openProjections(t: { teardown(fn: () => Promise<void>): void }, prefix: string): Promise<ProjectionSet> {
  const dir = await mkdtemp(join(tmpdir(), `realize-spec-${prefix}-`));
  const set = ProjectionSet.open(dir);
  t.teardown(async () => {
    await set.close();
    await rm(dir, { recursive: true, force: true });
  });
  return set;
}
