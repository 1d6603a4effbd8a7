/**
 * The household: membership changes are signed events that replicate; only members connect;
 * a removed peer can no longer connect, and its later entries are refused.
 */
import t from 'tap';
import { addPeer, Household, removePeer, SyncError } from '../../engine/sync/index.js';
import { area, follow, household, lengths, makePeer, syncOnce, writeFile } from './helpers/peers.js';

t.test('peer add/remove are events in the household feed, and replicate', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  const c = await makePeer(t, 'c');
  await addPeer(a.engine, 'b', b.key, '127.0.0.1:7000');
  await addPeer(a.engine, 'c', c.key, null);
  await addPeer(b.engine, 'a', a.key, null);
  const h = await Household.load(a.engine.store.feeds, a.key);
  t.same(h.peers().map((m) => [m.name, m.address]), [['b', '127.0.0.1:7000'], ['c', null]]);
  t.ok(h.isMember(a.key), 'a store is always a member of its own household');
  await t.rejects(addPeer(a.engine, 'b', c.key, null), { code: 'BAD_ARGUMENT' }, 'a name names one peer');
  await t.rejects(addPeer(a.engine, 'x', 'zz', null), { code: 'BAD_ARGUMENT' }, 'a key is 64 hex digits');
  await b.start();
  // c learns about everyone from b? No: c is not a member at b yet. a syncs with b, b learns c.
  await syncOnce(a, b);
  const hb = await Household.load(b.engine.store.feeds, b.key);
  t.ok(hb.isMember(c.key), "b learnt c from a's household feed");
  await removePeer(a.engine, 'c');
  await syncOnce(a, b);
  const hb2 = await Household.load(b.engine.store.feeds, b.key);
  t.notOk(hb2.isMember(c.key), 'the removal replicated too');
  t.ok(hb2.wasRemoved(c.key));
});

t.test('an unknown key is refused, and the server keeps serving members', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  const stranger = await makePeer(t, 'stranger');
  await household(a, b);
  await addPeer(stranger.engine, 'b', b.key, null); // the stranger knows b; b does not know it
  await b.start();
  await stranger.start({ deaf: true });
  const err = await stranger.node!.syncWith({ key: b.key, address: b.address }).catch((e: unknown) => e);
  t.ok(err instanceof SyncError, 'the stranger is refused');
  t.match((err as SyncError).message, /not a member of the household/);
  t.match(b.logs.join('\n'), /refused connection from 127\.0\.0\.1:\d+: key [0-9a-f]{64} is not a member of the household/, 'b logs a clear line');
  await area(a, 'x');
  await follow(b, 'x');
  await writeFile(a, '/x/f', Buffer.from('still served'));
  await syncOnce(a, b);
  t.ok(b.engine.lookup('/x/f'), 'b still serves its members');
});

t.test('a wrong key: the dialer expected another peer at that address', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  const c = await makePeer(t, 'c');
  await household(a, b, c);
  await b.start();
  await a.start({ deaf: true });
  const err = await a.node!.syncWith({ key: c.key, address: b.address }).catch((e: unknown) => e);
  t.ok(err instanceof SyncError);
  t.equal((err as SyncError).code, 'WRONG_KEY');
  t.match((err as Error).message, new RegExp(`holds key ${b.key}, not the expected ${c.key}`));
  t.equal(b.engine.store.feeds.list().filter((f) => f.name.startsWith(a.key)).length, 0, 'nothing of a reached b');
});

t.test('a removed peer can no longer connect, and its later entries are refused', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  const c = await makePeer(t, 'c');
  await household(a, b, c);
  await area(a, 'shared');
  for (const p of [b, c]) await follow(p, 'shared');
  await writeFile(a, '/shared/before', Buffer.from('before'));
  await c.start();
  await b.start();
  await syncOnce(a, c); // c holds a's entries
  await removePeer(b.engine, 'a');
  // a writes more and gives it to c, which has not heard of the removal yet
  await writeFile(a, '/shared/after', Buffer.from('after'));
  await syncOnce(a, c);
  const cHas = lengths(c)[`${a.key}.shared`]!;
  // c meets b: c learns the removal; b refuses a's entries that c relays
  await syncOnce(c, b);
  t.notOk(lengths(b)[`${a.key}.shared`], "b holds none of the removed peer's area entries");
  t.match(b.logs.join('\n'), /its author was removed from the household/, 'b says why');
  const hc = await Household.load(c.engine.store.feeds, c.key);
  t.notOk(hc.isMember(a.key), 'c learnt the removal');
  t.equal(lengths(c)[`${a.key}.shared`], cHas, 'what c held stays');
  // a cannot connect any more, to b or c
  for (const p of [b, c]) {
    const err = await a.node!.syncWith({ key: p.key, address: p.address }).catch((e: unknown) => e);
    t.ok(err instanceof SyncError, `a is refused by ${p.name}`);
  }
  t.match(b.logs.join('\n'), /refused connection from .*not a member/);
});
