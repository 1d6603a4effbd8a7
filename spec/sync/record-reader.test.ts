/**
 * The record reader that cuts the byte stream into frames: records come out whole and in
 * order however the stream is cut, whether chunks are kept as they arrive (push) or lent from
 * a buffer the socket reuses (BorrowedReads: large records taken into buffers of their own as
 * they come, what is left copied before the buffer is reused), and whether records that span
 * chunks are assembled in a fresh buffer or in the reader's own (next's `reuse`).
 */
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import t, { type Test } from 'tap';
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

for (const mode of ['push', 'borrowed'] as const) {
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
      // borrowed: as SecureChannel takes a socket's reads (its #take): a large record's bytes go
      // straight into a buffer of its own (peekLength, takeOwn, takeInto), the rest are pushed as
      // views of the lent buffer, and what is left of them is copied (own) before it is reused.
      let filling: { len: number; body: Buffer; at: number } | null = null;
      const check = (prefixLen: number, body: Buffer): void => {
        if (!body.equals(bodies[next]!) || prefixLen !== bodies[next]!.byteLength) bad++;
        next++;
      };
      while (at < stream.byteLength) {
        const n = Math.min(stream.byteLength - at, 1 + Math.floor(rnd() * 200_000));
        let chunk: Buffer;
        if (mode === 'borrowed') {
          chunk = lent.subarray(0, Math.min(n, lent.byteLength));
          stream.copy(chunk, 0, at, at + chunk.byteLength);
          at += chunk.byteLength;
          if (filling !== null) {
            const k = Math.min(chunk.byteLength, filling.len - filling.at);
            chunk.copy(filling.body, filling.at, 0, k);
            filling.at += k;
            chunk = chunk.subarray(k);
            if (filling.at === filling.len) {
              check(filling.len, filling.body);
              filling = null;
            }
          }
        } else {
          chunk = stream.subarray(at, at + n);
          at += n;
        }
        r.push(chunk);
        while (filling === null) {
          const len = r.peekLength(4, 16 * 1024 * 1024, 'frame');
          if (len === null) break;
          if (mode === 'borrowed' && len >= 512 * 1024) {
            t.equal(r.takeOwn(4).readUInt32BE(0), len);
            filling = { len, body: Buffer.alloc(len), at: 0 };
            filling.at = r.takeInto(filling.body, 0, len);
            if (filling.at === len) {
              check(len, filling.body);
              filling = null;
            }
            continue;
          }
          const rec = r.next(4, 16 * 1024 * 1024, 'frame', reuse);
          if (rec === null) break;
          check(rec.prefix.readUInt32BE(0), rec.body);
        }
        if (mode === 'borrowed') {
          r.own(lent.buffer);
          lent.fill(0xee); // the socket reads into it again
        }
      }
      t.equal(bad, 0, 'every record reads back as it was sent');
      t.equal(next, bodies.length, 'every record came out');
      t.equal(r.buffered, 0, 'nothing left over');
    });
  }
}

t.test('peekLength refuses what next refuses, before the bytes are awaited', async (t) => {
  const r = new RecordReader();
  r.push(Buffer.from([0, 0, 1]));
  t.equal(r.peekLength(4, 100, 'frame'), null, 'not all of the prefix yet');
  r.push(Buffer.from([200]));
  t.throws(() => r.peekLength(4, 100, 'frame'), { code: 'FRAME_TOO_LARGE' });
  const z = new RecordReader();
  z.push(Buffer.alloc(4));
  t.throws(() => z.peekLength(4, 100, 'frame'), { code: 'PROTOCOL' }, 'an empty record');
});

/** A loopback server that sends `payload` and closes, and a socket to it reading through a BorrowedReads. */
async function borrowedSocket(t: Test, payload: Buffer): Promise<{ reads: BorrowedReads; sock: Socket; done: Promise<void> }> {
  const server = createServer((s: Socket) => s.end(payload));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => server.close());
  const reads = new BorrowedReads();
  const sock = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', onread: reads.onread });
  const done = new Promise<void>((r) => sock.once('end', () => r()));
  return { reads, sock, done };
}

t.test('a socket that reads into its own buffer (BorrowedReads) keeps what came before the channel took over', async (t) => {
  const payload = randomBytes(5 * 1024 * 1024);
  const { reads, sock, done } = await borrowedSocket(t, payload);
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

t.test('BorrowedReads with a target: each read lands where the target says (a large frame\'s pooled buffer), else in its own buffer', async (t) => {
  const payload = randomBytes(3 * 1024 * 1024);
  const { reads, sock, done } = await borrowedSocket(t, payload);
  const into = Buffer.from(new SharedArrayBuffer(2 * 1024 * 1024)); // the first 2 MiB go here in place
  let at = 0;
  let inPlace = 0;
  const rest: Buffer[] = [];
  const take = (chunk: Buffer): void => {
    if (chunk.buffer === into.buffer) {
      t.equal(chunk.byteOffset, at, 'in place, right after the bytes before');
      at += chunk.byteLength;
      inPlace++;
      return;
    }
    // Not in place (bytes before the channel took over, or past the target): copied.
    const n = Math.min(chunk.byteLength, into.byteLength - at);
    chunk.copy(into, at, 0, n);
    at += n;
    rest.push(Buffer.from(chunk.subarray(n)));
  };
  reads.attach(
    (chunk) => {
      take(chunk);
      return true;
    },
    take,
    () => (at < into.byteLength ? into.subarray(at) : null),
  );
  await done;
  sock.destroy();
  t.ok(inPlace > 0, `${inPlace} reads landed in place`);
  t.ok(Buffer.concat([into, ...rest]).equals(payload), 'every byte, in order');
});
