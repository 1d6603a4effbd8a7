/**
 * The household commands end to end, in-process (`main`), with `realize sync` against a
 * listener on 127.0.0.1: id, peer add/list/remove, area create/list/follow/unfollow, sync,
 * status, conflicts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Engine } from '../../engine/index.js';
import { SyncNode, formatAddress } from '../../engine/sync/index.js';
import { makeCli } from '../../tools/cli-context.js';
import { realize } from '../helpers/run-cli.js';



t.test('peer, area, sync, status, conflicts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-sync-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  t.equal((await realize('--store', a, 'init')).code, 0);
  t.equal((await realize('--store', b, 'init')).code, 0);
  const ka = (await realize('--store', a, 'id')).stdout.trim();
  const kb = (await realize('--store', b, 'id')).stdout.trim();
  t.equal((await realize('--store', b, 'peer', 'add', 'alice', ka)).code, 0);
  t.equal((await realize('--store', a, 'area', 'create', 'home')).code, 0);
  t.equal((await realize('--store', b, 'area', 'follow', 'home')).code, 0);
  const bad = await realize('--store', a, 'peer', 'add', 'x', 'not-a-key');
  t.equal(bad.code, 2, 'a bad key is a usage error');
  t.match(bad.stderr, /a peer key is 64 hex digits/);

  // b listens (in-process, on 127.0.0.1) while a runs `realize sync`
  const eb = await Engine.open(b, makeCli().env);
  const node = await SyncNode.start(eb, { listen: { host: '127.0.0.1', port: 0 } });
  t.teardown(async () => {
    await node.close();
    await eb.close();
  });
  const addr = formatAddress(node.address!);
  t.equal((await realize('--store', a, 'peer', 'add', 'bob', kb, '--address', addr)).code, 0);
  const list = await realize('--store', a, '--json', 'peer', 'list');
  const members = list.stdout.trim().split('\n').map((l) => JSON.parse(l) as { name: string; key: string; address: string | null; self: boolean });
  t.same(members.map((m) => [m.name, m.self]), [['self', true], ['bob', false]]);
  t.equal(members[1]!.address, addr);
  const sync = await realize('--store', a, '--json', 'sync', 'bob');
  t.equal(sync.code, 0, sync.stderr);
  const s = JSON.parse(sync.stdout) as { peer: string; entriesOut: number };
  t.equal(s.peer, 'bob');
  t.ok(s.entriesOut > 0, 'a sent its entries');
  t.ok(eb.lookup('/home'), 'b holds area home');
  const areas = await realize('--store', a, '--json', 'area', 'list');
  t.same(JSON.parse(areas.stdout.trim()), { area: 'home', held: true, followed: true, followers: ['bob'] });
  const status = await realize('--store', a, '--json', 'status');
  const row = JSON.parse(status.stdout.trim()) as { name: string; connected: boolean | null; peerBehind: { entries: number } };
  t.equal(row.name, 'bob');
  t.equal(row.connected, null, 'no serve runs for a');
  t.equal(row.peerBehind.entries, 0, 'bob lacks nothing');
  t.equal((await realize('--store', a, 'conflicts')).stdout, 'no conflicts\n');
  t.equal((await realize('--store', a, 'area', 'unfollow', 'home')).code, 0);
  t.match((await realize('--store', a, 'area', 'list')).stdout, /home\s+not followed/);
  const nobody = await realize('--store', a, 'sync', 'carol');
  t.equal(nobody.code, 2);
  t.match(nobody.stderr, /no peer named "carol"/);
  t.equal((await realize('--store', a, 'peer', 'remove', 'bob')).code, 0);
  t.notMatch((await realize('--store', a, 'peer', 'list')).stdout, /bob/);
});
