/**
 * The record reader that cuts the byte stream into frames: records come out whole and in
 * order however the stream is cut, whether chunks are kept as they arrive (push) or copied
 * out of a buffer the socket reuses (pushCopy, BorrowedReads), and whether records that span
 * chunks are assembled in a fresh buffer or in the reader's own (next's `reuse`), and whether
 * a record fits the copy buffer or not.
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import t from 'tap';
import { RecordReader } from '../../engine/sync/record-reader.js';
import { BorrowedReads } from '../../engine/sync/secure-channel.js';

/** A seeded generator (the test must be repeatable). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s = (s ^ (s >>> 13)) >>> 0;
    return s / 2 ** 32;
  };
}

function frame(body: Buffer): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(body.byteLength);
  return Buffer.concat([p, body]);
}

for (const mode of ['push', 'pushCopy'] as const) {
  for (const reuse of [false, true]) {
    t.test(`records come out whole: ${mode}, reuse ${reuse}`, async (t) => {
      const rnd = prng(mode === 'push' ? 7 : 11);
      const bodies = Array.from({ length: 300 }, (_, i) => {
        const n = i % 100 === 0 ? 9 * 1024 * 1024 + Math.floor(rnd() * 100_000) : i % 50 === 0 ? 3 * 1024 * 1024 + Math.floor(rnd() * 100_000) : 1 + Math.floor(rnd() * 300_000);
        return randomBytes(n);
      });
      const stream = Buffer.concat(bodies.map(frame));
      const r = new RecordReader();
      const lent = Buffer.alloc(256 * 1024); // what a socket would read into, again and again
      let at = 0;
      let next = 0;
      let bad = 0;
      while (at < stream.byteLength) {
        const n = Math.min(stream.byteLength - at, 1 + Math.floor(rnd() * 200_000));
        if (mode === 'pushCopy') {
          const view = lent.subarray(0, Math.min(n, lent.byteLength));
          stream.copy(view, 0, at, at + view.byteLength);
          r.pushCopy(view);
          view.fill(0xee); // the socket reads into it again
          at += view.byteLength;
        } else {
          r.push(stream.subarray(at, at + n));
          at += n;
        }
        for (;;) {
          const rec = r.next(4, 16 * 1024 * 1024, 'frame', reuse);
          if (rec === null) break;
          if (!rec.body.equals(bodies[next]!) || rec.prefix.readUInt32BE(0) !== bodies[next]!.byteLength) bad++;
          next++;
        }
      }
      t.equal(bad, 0, 'every record reads back as it was sent');
      t.equal(next, bodies.length, 'every record came out');
      t.equal(r.buffered, 0, 'nothing left over');
    });
  }
}

t.test('a socket that reads into its own buffer (BorrowedReads) keeps what came before the channel took over', async (t) => {
  const payload = randomBytes(5 * 1024 * 1024);
  const server = createServer((s: Socket) => s.end(payload));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const reads = new BorrowedReads();
  const sock = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', onread: reads.onread });
  const done = new Promise<void>((r) => sock.once('end', () => r()));
  const some = new Promise<void>((r) => sock.once('connect', () => setTimeout(r, 50)));
  await some; // some bytes arrive before anyone takes them
  const got: Buffer[] = [];
  reads.attach(
    (chunk) => {
      got.push(Buffer.from(chunk));
      return true;
    },
    (chunk) => got.push(chunk),
  );
  await done;
  sock.destroy();
  t.ok(Buffer.concat(got).equals(payload), 'every byte, in order');
});
