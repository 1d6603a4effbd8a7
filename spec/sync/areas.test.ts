/**
 * Areas travel only to peers that follow them: C follows one of A's two areas and never
 * receives the other's entries or blocks, directly or through B.
 */
import t from 'tap';
import { BLOCK_SIZE } from '../../log/index.js';
import { blocksNamed } from '../../engine/sync/index.js';
import { content } from '../engine/helpers/env.js';
import { area, follow, household, lengths, makePeer, readFile, syncOnce, writeFile } from './helpers/peers.js';

t.test('C follows only one of two areas: it never receives the other', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  const c = await makePeer(t, 'c');
  await household(a, b, c);
  await area(a, 'one');
  await area(a, 'two');
  await writeFile(a, '/one/x.bin', content('one', BLOCK_SIZE + 1));
  await writeFile(a, '/two/y.bin', content('two', BLOCK_SIZE + 2));
  await follow(b, 'one');
  await follow(b, 'two');
  await follow(c, 'one');
  await b.start();
  await a.start();
  await syncOnce(a, b); // b takes both areas
  t.ok(lengths(b)[`${a.key}.two`]! > 0, 'b holds area two');
  await c.start();
  await syncOnce(c, b); // c through b
  await syncOnce(c, a); // and straight from a
  const feeds = Object.keys(lengths(c));
  t.ok(feeds.includes(`${a.key}.one`), 'c holds area one');
  t.notOk(feeds.some((f) => f.endsWith('.two')), `c holds no feed of area two (${feeds.join(', ')})`);
  t.ok((await readFile(c, '/one/x.bin')).equals(content('one', BLOCK_SIZE + 1)), "area one's file reads on c");
  t.equal(c.engine.lookup('/two'), undefined, 'area two is not in c\'s tree');
  const twoFeed = a.engine.store.feeds.get(`${a.key}.two`)!;
  const twoBlocks = (await twoFeed.read(0)).flatMap((e) => blocksNamed(e));
  t.equal(twoBlocks.length, 2, 'area two names two blocks');
  for (const h of twoBlocks) t.notOk(c.engine.blocks.has(h), 'c never received a block of area two');
  t.same(c.logs, [], `no entries were even offered to c (${c.logs.join('; ')})`);
  // What c follows is local: a learns it from c's have.
  const { SyncState, Acks } = await import('../../engine/sync/index.js');
  t.same(new Acks(await SyncState.open(a.root)).follows(c.key), ['one'], 'a knows c follows only one');
});
