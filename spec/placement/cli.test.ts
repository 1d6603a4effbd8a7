/**
 * The placement commands end to end, in-process (`main`) on B's store, with A listening on
 * 127.0.0.1: `mark unreal|real PATH [--wait]`, `status PATH` (placement, inherited from
 * where, how much is here, what is unavailable and why), `status` (unavailable files), and
 * `cache --size` (budget, kept and evicted bytes); bad arguments are usage errors.
 */
import t from 'tap';
import { Engine } from '../../engine/index.js';
import { makeCli } from '../../tools/cli-context.js';
import { main } from '../../tools/main.js';
import { capture } from '../engine/helpers/capture.js';
import { rowPresence } from '../../engine/placement/index.js';
import { bigFile, unrealPair } from './helpers/pair.js';

async function realize(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; rows: Array<Record<string, unknown>> }> {
  const stdout = capture();
  const stderr = capture();
  const code = await main(args, makeCli({ stdout, stderr }));
  const text = stdout.text();
  const rows = args.includes('--json') ? text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  return { code, stdout: text, stderr: stderr.text(), rows };
}

t.test('mark, status, cache', async (t) => {
  const pair = await unrealPair(t);
  const { b } = pair;
  await bigFile(pair, '/home/big.bin', 8);
  await bigFile(pair, '/home/other.bin', 3);
  await b.stop();
  await b.engine.close();
  t.teardown(async () => {
    b.engine = await Engine.open(b.root, b.env);
  });
  const S = ['--store', b.root];

  const st = await realize(...S, '--json', 'status', '/home/big.bin');
  t.equal(st.code, 0, `status PATH exits 0 (${st.stderr})`);
  t.match(st.rows[0], { path: '/home/big.bin', placement: 'unreal', markedAt: '/home', explicit: false, presence: { presence: 'none', heldBlocks: 0, blocks: 9 } }, 'unreal, inherited from /home, nothing here');
  t.match(st.rows[0]!['unavailable'], [{ path: '/home/big.bin', reason: /no realize serve or mount/ }], 'unavailable: nothing runs that could fetch it');
  const human = await realize(...S, 'status', '/home/big.bin');
  t.match(human.stdout, /\/home\/big\.bin: unreal \(inherited from \/home\); content here: none, 0 B of 1\.0 MiB/, `human status: ${human.stdout}`);
  t.match(human.stdout, /unavailable: \/home\/big\.bin: /, 'names the unavailable file');

  const all = await realize(...S, '--json', 'status');
  t.equal(all.code, 0);
  t.ok(all.rows.some((r) => r['name'] === 'a'), 'the peer row is there');
  t.ok(all.rows.some((r) => r['unavailable'] === '/home/big.bin') && all.rows.some((r) => r['unavailable'] === '/home/other.bin'), 'plain status lists the unavailable files');

  const bad = await realize(...S, 'mark', 'maybe', '/home');
  t.equal(bad.code, 2, 'mark with a placement that is not one: usage error');
  t.match(bad.stderr, /real.*unreal/);
  const badSize = await realize(...S, 'cache', '--size', 'ten');
  t.equal(badSize.code, 2, 'cache --size that is not a size: usage error');

  const marked = await realize(...S, '--json', 'mark', 'real', '/home/big.bin', '--wait', '--wait-timeout', '20');
  t.equal(marked.code, 0, `mark real --wait exits 0 (${marked.stderr})`);
  t.match(marked.rows[0], { path: '/home/big.bin', placement: 'real', changed: true });
  t.match(marked.rows.at(-1), { complete: true }, 'and waited for the content');
  const after = await realize(...S, '--json', 'status', '/home/big.bin');
  t.match(after.rows[0], { placement: 'real', explicit: true, presence: { presence: 'all' }, unavailable: [] }, 'status: real, marked there, all here');
  const again = await realize(...S, '--json', 'mark', 'real', '/home/big.bin');
  t.match(again.rows[0], { changed: false }, 'the same mark again changes nothing');

  const cache = await realize(...S, '--json', 'cache', '--size', '1M');
  t.equal(cache.code, 0, `cache --size exits 0 (${cache.stderr})`);
  t.match(cache.rows[0], { sizeBytes: 1024 * 1024, evictedBlocks: 0 }, 'the budget is set; nothing to evict');
  const show = await realize(...S, 'cache');
  t.match(show.stdout, /cache budget 1\.0 MiB/, `human cache: ${show.stdout}`);
  const reopened = await Engine.open(b.root, b.env);
  t.equal(rowPresence(reopened.projections.content.row(reopened.stat('/home/big.bin').id), reopened.blocks).presence, 'all', 'the store holds the Real file');
  await reopened.close();
});
