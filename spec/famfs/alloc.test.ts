/**
 * The famfs allocator and free-space map (projections/famfs.ts): thousands of random
 * allocations and frees, applied as events, never make two files overlap; every extent
 * stays inside its device; free + held space is the device's whole allocatable space; an
 * allocation planned by the allocator is never refused; and a second projection set that
 * plays the same events computes the same extents (the same digest).
 */
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { Extent, FsEvent } from '../../log/index.js';
import { deviceSpan, FAMFS_UNIT, ProjectionSet, type ApplyContext } from '../../projections/index.js';
import { nid } from '../shadow/helpers.js';

const DEV_A = 'a'.repeat(32);
const DEV_B = 'b'.repeat(32);
const SIZES = { [DEV_A]: 64 * FAMFS_UNIT + 12345, [DEV_B]: 40 * FAMFS_UNIT } as Record<string, number>;

async function freshSet(t: { teardown(fn: () => unknown): void }): Promise<ProjectionSet> {
  const dir = await mkdtemp(join(tmpdir(), 'realize-spec-famfs-'));
  const set = ProjectionSet.open(dir);
  t.teardown(async () => {
    await set.close();
    await rm(dir, { recursive: true, force: true });
  });
  return set;
}

function applyAll(set: ProjectionSet, events: readonly FsEvent[]): void {
  const ctx = {} as ApplyContext; // famfs reads nothing of the context
  set.env.transactionSync(() => {
    for (const e of events) set.famfs.apply(e, ctx);
  });
}

/** Checks every invariant; returns the problems. */
function check(set: ProjectionSet): string[] {
  const problems: string[] = [];
  const spans = new Map<string, Array<[number, number, string]>>();
  for (const [id, list] of set.famfs.files()) {
    for (const e of list) {
      const { start, end } = deviceSpan(SIZES[e.device]!);
      if (e.offset < start || e.offset + e.length > end) problems.push(`${id}: extent outside device`);
      if (e.offset % FAMFS_UNIT || e.length % FAMFS_UNIT || e.length === 0) problems.push(`${id}: misaligned extent`);
      (spans.get(e.device) ?? spans.set(e.device, []).get(e.device)!).push([e.offset, e.offset + e.length, id]);
    }
  }
  for (const dev of [DEV_A, DEV_B]) {
    const list = spans.get(dev) ?? [];
    for (const r of set.famfs.freeRanges(dev)) list.push([r.offset, r.offset + r.length, 'free']);
    list.sort((a, b) => a[0] - b[0]);
    let covered = 0;
    for (let i = 0; i < list.length; i++) {
      covered += list[i]![1] - list[i]![0];
      if (i > 0 && list[i]![0] < list[i - 1]![1]) problems.push(`overlap on ${dev.slice(0, 4)}: ${list[i - 1]![2]} and ${list[i]![2]}`);
    }
    const { start, end } = deviceSpan(SIZES[dev]!);
    if (covered !== end - start) problems.push(`device ${dev.slice(0, 4)}: ${covered} of ${end - start} bytes accounted for`);
  }
  return problems;
}

type Step = { kind: 'alloc'; file: number; units: number } | { kind: 'free'; file: number; tail: number } | { kind: 'steal'; file: number; victim: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('alloc' as const), file: fc.nat(40), units: fc.integer({ min: 1, max: 9 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('free' as const), file: fc.nat(40), tail: fc.nat(8) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('steal' as const), file: fc.nat(40), victim: fc.nat(40) }) },
);

t.test('thousands of random allocations and frees never overlap', async (t) => {
  let runs = 0;
  let steps = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1500, maxLength: 2500 }), async (plan) => {
      const set = await freshSet(t);
      const twin = await freshSet(t);
      const log: FsEvent[] = [
        { type: 'famfs-device', area: 'fam', device: DEV_A, size: SIZES[DEV_A]!, time: 1 },
        { type: 'famfs-device', area: 'fam', device: DEV_B, size: SIZES[DEV_B]!, time: 1 },
      ];
      applyAll(set, log);
      for (const [i, s] of plan.entries()) {
        const id = nid(s.file + 1);
        let event: FsEvent | null = null;
        if (s.kind === 'alloc') {
          const extents = set.famfs.plan('fam', s.units * FAMFS_UNIT - 1);
          if (extents !== null) {
            event = { type: 'famfs-alloc', id, extents, time: i };
            const before = set.famfs.extents(id)?.reduce((n, e) => n + e.length, 0) ?? 0;
            applyAll(set, [event]);
            const after = set.famfs.extents(id)!.reduce((n, e) => n + e.length, 0);
            if (after !== before + s.units * FAMFS_UNIT) throw new Error('a planned allocation was refused');
          }
        } else if (s.kind === 'free') {
          const held = set.famfs.extents(id);
          if (held !== undefined) {
            // Free the last extent (or a tail of it), or everything.
            const last = held[held.length - 1]!;
            const cut = Math.min(s.tail, last.length / FAMFS_UNIT - 1) * FAMFS_UNIT;
            const extents: Extent[] = s.tail === 0 ? [...held] : [{ device: last.device, offset: last.offset + cut, length: last.length - cut }];
            event = { type: 'famfs-free', id, extents, time: i };
            applyAll(set, [event]);
          }
        } else {
          // A crafted or concurrent allocation of space another file holds: refused whole.
          const victim = set.famfs.extents(nid(s.victim + 1));
          if (victim !== undefined && s.victim !== s.file) {
            event = { type: 'famfs-alloc', id, extents: [victim[0]!], time: i };
            const before = JSON.stringify(set.famfs.extents(id));
            applyAll(set, [event]);
            if (JSON.stringify(set.famfs.extents(id)) !== before) throw new Error('an allocation of held space was applied');
          }
        }
        if (event !== null) log.push(event);
        if (i % 100 === 0) {
          const problems = check(set);
          if (problems.length > 0) throw new Error(`after step ${i}: ${problems.join('; ')}`);
        }
      }
      const problems = check(set);
      if (problems.length > 0) throw new Error(problems.join('; '));
      // Every peer that plays the same log computes the same extents.
      applyAll(twin, log);
      const d = (s: ProjectionSet): string | undefined => s.digests().find((x) => x.name === 'famfs')?.digest;
      if (d(set) !== d(twin)) throw new Error('a second peer computed other extents');
      runs++;
      steps += plan.length;
    }),
    { numRuns: 4 },
  );
  t.ok(steps >= 6000, `${steps} random steps in ${runs} runs, no overlap`);
});

t.test('refusals: unknown device, misaligned, outside the device, overlapping within one event, double free', async (t) => {
  const set = await freshSet(t);
  applyAll(set, [{ type: 'famfs-device', area: 'fam', device: DEV_A, size: 8 * FAMFS_UNIT, time: 1 }]);
  const F = nid(1);
  const U = FAMFS_UNIT;
  const tries: Array<[string, Extent[]]> = [
    ['unknown device', [{ device: DEV_B, offset: U, length: U }]],
    ['misaligned offset', [{ device: DEV_A, offset: U + 4096, length: U }]],
    ['misaligned length', [{ device: DEV_A, offset: U, length: 4096 }]],
    ['the superblock unit', [{ device: DEV_A, offset: 0, length: U }]],
    ['past the end', [{ device: DEV_A, offset: 7 * U, length: 2 * U }]],
    ['two extents overlapping', [{ device: DEV_A, offset: U, length: 2 * U }, { device: DEV_A, offset: 2 * U, length: U }]],
  ];
  for (const [what, extents] of tries) {
    applyAll(set, [{ type: 'famfs-alloc', id: F, extents, time: 2 }]);
    t.equal(set.famfs.extents(F), undefined, `${what}: refused`);
  }
  t.same([...set.famfs.freeRanges(DEV_A)], [{ offset: U, length: 7 * U }], 'the free map untouched');
  applyAll(set, [{ type: 'famfs-alloc', id: F, extents: [{ device: DEV_A, offset: U, length: 2 * U }], time: 3 }]);
  applyAll(set, [{ type: 'famfs-alloc', id: F, extents: [{ device: DEV_A, offset: 3 * U, length: U }], time: 4 }]);
  t.same(set.famfs.extents(F), [{ device: DEV_A, offset: U, length: 3 * U }], 'adjacent allocations coalesce');
  applyAll(set, [{ type: 'famfs-free', id: F, extents: [{ device: DEV_A, offset: 2 * U, length: U }], time: 5 }]);
  t.same(set.famfs.extents(F), [{ device: DEV_A, offset: U, length: U }, { device: DEV_A, offset: 3 * U, length: U }], 'a free splits');
  applyAll(set, [{ type: 'famfs-free', id: F, extents: [{ device: DEV_A, offset: 2 * U, length: U }], time: 6 }]);
  t.same(set.famfs.extents(F), [{ device: DEV_A, offset: U, length: U }, { device: DEV_A, offset: 3 * U, length: U }], 'a double free is refused');
  t.same([...set.famfs.freeRanges(DEV_A)], [{ offset: 2 * U, length: U }, { offset: 4 * U, length: 4 * U }]);
  t.same(set.famfs.plan('fam', 2 * U), [{ device: DEV_A, offset: 2 * U, length: U }, { device: DEV_A, offset: 4 * U, length: U }], 'first fit, lowest offsets first');
  t.equal(set.famfs.plan('fam', 100 * U), null, 'no room');
});
