// Closes answered on the FUSE threads (mount/staged-writes.ts, the patch's realize_stage_close):
// the native side stages a handle's FLUSH and RELEASE behind its writes, as records of length 0
// whose offset is -1 (flush) or -2 (release), and answers them at once. JS takes them in with
// the writes, in order: each is carried out after the writes staged before it are in the write
// cache, those of one handle one after another, and the mount can wait for them (an open of
// the file, a control operation, the mount's end).
//
// No FUSE here: the native side is a fake that hands records to the drain as the addon does.
import t, { type Test } from 'tap';
import { WriteCache } from '../../engine/index.js';
import { FdTable } from '../../mount/fd-table.js';
import { StagedWrites, type StageNative } from '../../mount/staged-writes.js';
import { OWNER, openStore } from '../engine/helpers/env.js';

const FIELDS = 5;

class FakeNative implements StageNative {
  drain: ((data: Buffer, records: Buffer) => void) | null = null;
  readonly windows = new Map<number, number>();
  setup(drain: (data: Buffer, records: Buffer) => void): void {
    this.drain = drain;
  }
  window(fh: number, from: number): void {
    if (from < 0) this.windows.delete(fh);
    else this.windows.set(fh, from);
  }
  enabled(): void {}
  exclusive<T>(fn: () => T): T {
    return fn();
  }
  /** Hands records to JS as the addon does: (fh, offset, length, offset in data, node id) each. */
  hand(data: Buffer, records: ReadonlyArray<readonly [number, number, number, number]>): void {
    const r = new Float64Array(records.length * FIELDS);
    records.forEach(([fh, offset, length, at], k) => r.set([fh, offset, length, at, 7], k * FIELDS));
    this.drain!(data, Buffer.from(r.buffer));
  }
}

async function setup(t: Test) {
  const { engine } = await openStore(t);
  await engine.run({ type: 'mkdir', path: '/home', mode: 0o755, owner: OWNER });
  await engine.run({ type: 'create', path: '/home/f', mode: 0o644, owner: OWNER });
  const id = engine.stat('/home/f').id;
  const cache = new WriteCache(engine);
  const fds = new FdTable();
  const native = new FakeNative();
  const staged = new StagedWrites(native);
  const events: string[] = [];
  const errors: unknown[] = [];
  const gates = new Map<string, Promise<void>>();
  staged.start(cache, fds, {
    onWrite: (file) => void (file.written = true),
    onClose: async (fd, kind) => {
      // What the write cache holds when the close starts: the writes staged before it.
      const held = (await cache.read(id, 0, 16)).toString('latin1');
      events.push(`${kind} ${fd} start (${held})`);
      await gates.get(kind);
      events.push(`${kind} ${fd} done`);
    },
    onInternalError: (op, err) => errors.push([op, err]),
  });
  t.teardown(() => staged.stop());
  const fd = fds.open(id, 2);
  staged.open(fd);
  return { engine, id, cache, fds, native, staged, events, errors, gates, fd };
}

t.test('a staged flush and release are carried out after the writes staged before them, in order', async (t) => {
  const s = await setup(t);
  t.ok(s.native.windows.has(s.fd), 'the handle has a window');
  const data = Buffer.from('hello');
  s.native.hand(data, [
    [s.fd, 0, 5, 0],
    [s.fd, -1, 0, 5],
    [s.fd, -2, 0, 5],
  ]);
  t.not(s.staged.closing([s.fd]), null, 'the closes are under way once taken in');
  await s.staged.closed();
  t.same(s.events, [`flush ${s.fd} start (hello)`, `flush ${s.fd} done`, `release ${s.fd} start (hello)`, `release ${s.fd} done`], 'flush, then release, each after the write');
  t.equal(s.staged.closing([s.fd]), null, 'nothing is under way after');
  t.same(s.errors, [], 'no error');
});

t.test('a handle\'s release waits for its flush still under way', async (t) => {
  const s = await setup(t);
  let open!: () => void;
  s.gates.set('flush', new Promise<void>((r) => (open = r)));
  s.native.hand(Buffer.alloc(0), [[s.fd, -1, 0, 0]]);
  s.native.hand(Buffer.alloc(0), [[s.fd, -2, 0, 0]]);
  // A close that takes the round trip (a handle whose window was closed) waits its turn too.
  const third = s.staged.closeStep(s.fd, async () => void s.events.push('third'));
  await new Promise((r) => setTimeout(r, 20));
  t.same(s.events, [`flush ${s.fd} start ()`], 'the release has not started while the flush runs');
  const waiting = s.staged.closing([s.fd]);
  t.not(waiting, null, 'an open of the file has something to wait for');
  open();
  await waiting;
  await third;
  t.same(s.events, [`flush ${s.fd} start ()`, `flush ${s.fd} done`, `release ${s.fd} start ()`, `release ${s.fd} done`, 'third'], 'one after another');
});

t.test('a failing close is reported and does not hold up the next one', async (t) => {
  const s = await setup(t);
  s.gates.set('flush', Promise.reject(new Error('no space')));
  s.native.hand(Buffer.alloc(0), [
    [s.fd, -1, 0, 0],
    [s.fd, -2, 0, 0],
  ]);
  await s.staged.closed();
  t.equal(s.errors.length, 1, 'one error reported');
  t.match(String((s.errors[0] as [string, Error])[0]), /staged flush/, 'named as the staged flush');
  t.match(s.events.at(-1), /release .* done/, 'the release was carried out all the same');
});

t.test('waiting for the closes taken in so far does not wait for those taken in after', async (t) => {
  const s = await setup(t);
  let openFlush!: () => void;
  s.gates.set('flush', new Promise<void>((r) => (openFlush = r)));
  let openRelease!: () => void;
  s.gates.set('release', new Promise<void>((r) => (openRelease = r)));
  s.native.hand(Buffer.alloc(0), [[s.fd, -1, 0, 0]]);
  const soFar = s.staged.closed();
  const other = s.fds.open(s.id, 2);
  s.staged.open(other);
  s.native.hand(Buffer.alloc(0), [[other, -2, 0, 0]]); // taken in after: its release stays open
  let all = false;
  void s.staged.closed(true).then(() => (all = true));
  openFlush();
  await soFar;
  t.pass('the flush taken in first is all a control operation waits for');
  t.notOk(all, 'the mount\'s end waits for the release still under way');
  openRelease();
  await s.staged.closed(true);
  t.ok(s.events.includes(`release ${other} done`), 'which then ends');
});
