/**
 * Two peers on 127.0.0.1 for placement tests: A listens and holds the content; B dials A and
 * keeps a live connection (a deaf peer), with the area `home` marked Unreal on B before any
 * content exists, so sync brings B the metadata and no blocks.
 */
import { BLOCK_SIZE } from '../../../log/index.js';
import { markPath, rowPresence, type ContentPresence } from '../../../engine/placement/index.js';
import { addPeer } from '../../../engine/sync/index.js';
import { content } from '../../engine/helpers/env.js';
import { area, follow, household, makePeer, until, writeFile, type HasTeardown, type Peer } from '../../sync/helpers/peers.js';

export interface Pair {
  readonly a: Peer;
  readonly b: Peer;
}

/** A (listening) and B (deaf, dialling A), both following `home`, B holding `home` Unreal. */
export async function unrealPair(t: HasTeardown): Promise<Pair> {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  await household(a, b);
  await area(a, 'home');
  await follow(b, 'home');
  await a.start();
  await addPeer(b.engine, 'a', a.key, a.address);
  await b.start({ deaf: true, dial: true });
  await until(() => b.engine.lookup('/home') !== undefined, 10_000, '/home on b');
  await markPath(b.engine, '/home', 'unreal');
  return { a, b };
}

/** Writes `blocks` whole blocks (and a short tail) at `path` on A and waits for B to know the file. */
export async function bigFile(pair: Pair, path: string, blocks: number, label = path): Promise<Buffer> {
  const data = content(label, blocks * BLOCK_SIZE + 100);
  await writeFile(pair.a, path, data);
  const want = pair.a.engine.contentState(pair.a.engine.stat(path).id)!.hash;
  await until(() => {
    const i = pair.b.engine.lookup(path);
    return i !== undefined && Buffer.from(pair.b.engine.contentState(i.id)!.hash).equals(Buffer.from(want));
  }, 10_000, `${path} on b`);
  return data;
}

export function presence(p: Peer, path: string): ContentPresence {
  return rowPresence(p.engine.projections.content.row(p.engine.stat(path).id), p.engine.blocks);
}

/** Waits until a sync session between the two is up (B can fetch from A). */
export async function connected(pair: Pair): Promise<void> {
  await until(() => pair.b.node?.sessions.has(pair.a.key) === true && (pair.b.engine.placement?.fetcher.connected ?? false), 10_000, 'b connected to a');
}

export async function readAt(p: Peer, path: string, offset: number, length: number): Promise<Buffer> {
  return p.engine.read(p.engine.stat(path).id, offset, length);
}
