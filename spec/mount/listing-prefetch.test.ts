/**
 * Listings handed ahead to the addon (mount/listing-prefetch.ts), against the engine alone (no
 * FUSE): a readdir reaching JS right after one of its parent or of a sibling (the same
 * generation) hands over the listings of the siblings after it, in listing order, in the
 * readdir's own form ("." and ".." first, then (mode, ino) per name); nothing on a first readdir,
 * after a change (the generation moved), for the root's or an area's entries, past the bounds.
 */
import t from 'tap';
import type { Engine } from '../../engine/index.js';
import { listingMode } from '../../mount/attr.js';
import { ListingPrefetch, listingForm, MAX_DIRS, MAX_ENTRIES, MAX_LISTING, type ListingSink } from '../../mount/listing-prefetch.js';
import { OWNER, openStore } from '../engine/helpers/env.js';

interface Listing {
  readonly path: string;
  readonly names: string[];
  readonly kinds: number[];
}

class FakeSink implements ListingSink {
  gen = 1;
  fills: Listing[][] = [];
  fill(paths: string, names: string, counts: Float64Array, kinds: Float64Array): number {
    const ps = paths.split('\0').slice(0, -1);
    const ns = names.split('\0').slice(0, -1);
    t.equal(ps.length, counts.length, 'a count per path');
    t.equal(kinds.length, 2 * ns.length, '(mode, ino) per name');
    const out: Listing[] = [];
    let at = 0;
    for (let i = 0; i < ps.length; i++) {
      const n = counts[i]!;
      out.push({ path: ps[i]!, names: ns.slice(at, at + n), kinds: [...kinds.subarray(2 * at, 2 * (at + n))] });
      at += n;
    }
    this.fills.push(out);
    return ps.length;
  }
  generation(): number {
    return this.gen;
  }
}

async function tree(engine: Engine, dirs: number, files: number): Promise<void> {
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'mkdir', path: '/home/t', mode: 0o755, owner: OWNER });
  for (let d = 0; d < dirs; d++) {
    await engine.run({ type: 'mkdir', path: `/home/t/d${d}`, mode: 0o755, owner: OWNER });
    for (let f = 0; f < files; f++) await engine.run({ type: 'create', path: `/home/t/d${d}/f${f}`, mode: 0o644, owner: OWNER });
  }
  await engine.run({ type: 'create', path: '/home/t/plain', mode: 0o644, owner: OWNER });
}

/** What ops.readdir answers for `path`, in the same form. */
function readdirOf(engine: Engine, path: string): Listing {
  const dir = engine.head.stat(path);
  const entries = engine.head.readdirKinds(path);
  const kinds = new Float64Array(2 * (entries.length + 2));
  const names = listingForm(dir, entries, kinds).split('\0').slice(0, -1);
  return { path, names, kinds: [...kinds] };
}

t.test('a traversal hands over the listings of the next siblings, as readdir answers them', async (t) => {
  const { engine } = await openStore(t);
  await tree(engine, 4, 3);
  const sink = new FakeSink();
  const prefetch = new ListingPrefetch(engine.head, sink);
  prefetch.listed('/home/t');
  t.equal(sink.fills.length, 0, 'a first readdir hands nothing over');
  prefetch.listed('/home/t/d0');
  t.equal(sink.fills.length, 1, 'a readdir of a child of the last one does');
  t.same(sink.fills[0], ['/home/t/d1', '/home/t/d2', '/home/t/d3'].map((p) => readdirOf(engine, p)), 'the directories after it (not the file), each as readdir answers it');
  const d1 = sink.fills[0]![0]!;
  t.same(d1.names.slice(0, 2), ['.', '..']);
  t.equal(d1.kinds[0], listingMode('dir'));
  t.equal(d1.kinds[1], engine.head.stat('/home/t/d1').ino, "'.' is the directory itself");
  prefetch.listed('/home/t/d2');
  t.equal(sink.fills.length, 2, 'a sibling after a sibling: the ones after it');
  t.same(sink.fills[1]!.map((l) => l.path), ['/home/t/d3']);
  prefetch.listed('/home/t/d3');
  t.equal(sink.fills.length, 2, 'nothing after the last one');
});

t.test('nothing after a change, for the root and the areas, outside a handler, past the bounds', async (t) => {
  const { engine } = await openStore(t);
  await tree(engine, 3, 2);
  const sink = new FakeSink();
  const prefetch = new ListingPrefetch(engine.head, sink);
  prefetch.listed('/home/t');
  sink.gen++;
  prefetch.listed('/home/t/d0');
  t.equal(sink.fills.length, 0, 'the generation moved between the two readdirs');
  prefetch.listed('/home');
  prefetch.listed('/home/t');
  t.equal(sink.fills.length, 0, "an area's entries are not handed over");
  prefetch.listed('/');
  prefetch.listed('/home');
  t.equal(sink.fills.length, 0, "nor the root's");
  sink.gen = -1;
  prefetch.listed('/home/t');
  prefetch.listed('/home/t/d0');
  t.equal(sink.fills.length, 0, 'outside a handler nothing is kept');

  sink.gen = 5;
  const bounded = new ListingPrefetch(engine.head, sink, { dirs: 1 });
  bounded.listed('/home/t');
  bounded.listed('/home/t/d0');
  t.same(sink.fills.at(-1)!.map((l) => l.path), ['/home/t/d1'], 'at most `dirs` listings');
  const small = new ListingPrefetch(engine.head, sink, { entries: 4 + 3 });
  small.listed('/home/t');
  small.listed('/home/t/d0');
  t.same(sink.fills.at(-1)!.map((l) => l.path), ['/home/t/d1'], 'and the fill stops before the listing that would pass `entries` names (with . and ..)');
  const none = new ListingPrefetch(engine.head, sink, { entries: 3 });
  const before = sink.fills.length;
  none.listed('/home/t');
  none.listed('/home/t/d0');
  t.equal(sink.fills.length, before, 'none at all when the first is too big');
  t.ok(MAX_ENTRIES >= 10_000 && MAX_DIRS <= 1024, "by default a find's 10,000-file tree at once, within the addon's 1,024 slots");
});

t.test('a directory past MAX_LISTING is left to JS, the ones after it are handed over', async (t) => {
  const { engine } = await openStore(t);
  await tree(engine, 3, 0);
  for (let i = 0; i <= MAX_LISTING; i++) await engine.submit({ type: 'create', path: `/home/t/d1/f${i}`, mode: 0o644, owner: OWNER });
  const sink = new FakeSink();
  const prefetch = new ListingPrefetch(engine.head, sink);
  prefetch.listed('/home/t');
  prefetch.listed('/home/t/d0');
  t.same(sink.fills[0]!.map((l) => l.path), ['/home/t/d2'], 'd1 skipped');
});
