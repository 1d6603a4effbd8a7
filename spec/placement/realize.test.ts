/**
 * Marking Unreal content Real on B: every block of the file comes in the background and the
 * file is pinned; a restart of B midway carries on where the block store stands (the marks
 * are in the log, what is missing is worked out again); `realize status PATH` shows the
 * progress as the blocks arrive.
 */
import t from 'tap';
import { markPath, pathStatus, statusContext } from '../../engine/placement/index.js';
import { until } from '../sync/helpers/peers.js';
import { bigFile, connected, presence, readAt, unrealPair } from './helpers/pair.js';

t.test('mark Real: the download completes, and survives a restart midway', async (t) => {
  const pair = await unrealPair(t);
  const { a, b } = pair;
  const data = await bigFile(pair, '/home/film.bin', 48);
  await connected(pair);
  t.equal(presence(b, '/home/film.bin').heldBlocks, 0, 'nothing of it here yet');

  // A serves about 20 blocks, then holds every further block until released (it reads a
  // batch's blocks by readRuns, together, and one by one by get).
  let served = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const get = a.engine.blocks.get.bind(a.engine.blocks);
  const readRuns = a.engine.blocks.readRuns.bind(a.engine.blocks);
  a.engine.blocks.get = async (hash: Uint8Array) => {
    if (++served > 20) await gate;
    return get(hash);
  };
  a.engine.blocks.readRuns = async (...args: Parameters<typeof readRuns>) => {
    served += args[0].length;
    if (served > 20) await gate;
    return readRuns(...args);
  };
  t.teardown(() => release());

  await markPath(b.engine, '/home/film.bin', 'real');
  await until(() => presence(b, '/home/film.bin').heldBlocks >= 16, 10_000, 'part of it on b');
  const mid = presence(b, '/home/film.bin');
  t.equal(mid.presence, 'part', `part of it is here (${mid.heldBlocks} of ${mid.blocks} blocks)`);
  const st = pathStatus(b.engine, '/home/film.bin', await statusContext(b.engine));
  t.equal(st.placement, 'real', 'status: real');
  t.equal(st.explicit, true, 'marked there');
  t.equal(st.presence.presence, 'part', 'status: part of it here');

  // Restart B (a crash or a reboot would do the same): the engine and its node go away.
  await b.restart();
  release();
  await b.start({ deaf: true, dial: true });
  await connected(pair);
  await until(() => presence(b, '/home/film.bin').presence === 'all', 15_000, 'the whole file on b after the restart');
  await b.engine.placement!.realizer.idle();
  t.ok((await readAt(b, '/home/film.bin', 0, data.byteLength)).equals(data), 'it reads right');
  const after = pathStatus(b.engine, '/home/film.bin', await statusContext(b.engine));
  t.equal(after.presence.presence, 'all', 'status: all here');

  // Pinned: at a budget of 0 nothing of it goes.
  b.engine.placement!.configure({ settings: { sizeBytes: 0 } });
  const r = await b.engine.placement!.enforce();
  t.equal(presence(b, '/home/film.bin').presence, 'all', 'a Real file is never evicted');
  t.equal(r.evictedBlocks, 0, 'nothing was evicted');

  // Later versions of a Real file come with sync.
  const edited = Buffer.from(data);
  edited.write('a later version', 5 * 131072);
  const id = a.engine.stat('/home/film.bin').id;
  await a.engine.write(id, 5 * 131072, Buffer.from('a later version'));
  await a.engine.commit(id);
  await until(async () => (await readAt(b, '/home/film.bin', 5 * 131072, 15)).toString() === 'a later version' && presence(b, '/home/film.bin').presence === 'all', 10_000, 'the later version complete on b');
});
