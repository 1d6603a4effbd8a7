/**
 * Large frames through pooled buffers (engine/sync/frame-pool.ts): a frame opened in place in
 * shared memory by the block hasher's worker (Opener.openInPlace) holds what was sealed, takes
 * its nonce in the order frames came (mixed with frames opened on the event loop), and a frame
 * that does not authenticate is refused; the pool hands buffers back out; a channel carries
 * large messages through it byte for byte; copyBytes copies to and from shared memory; frames
 * sealed with AES-256-GCM (the handshake's suite 1) go the same ways, and a channel uses it when
 * both sides offer it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { keyPairFromSeed, Signer } from '../../log/index.js';
import { decodeMessage, encodeMessage, Opener, Sealer, SecureChannel, TAG_BYTES } from '../../engine/sync/index.js';
import { openedBlocks } from '../../engine/block-hasher.js';
import { FramePool, POOLED_FRAME_BYTES, receivedFrames } from '../../engine/sync/frame-pool.js';
import { copyBytes } from '../../engine/copy-bytes.js';

const KEY = Buffer.alloc(32, 7);

/** A frame as the wire carries it: its 4-byte prefix and the sealed bytes. */
function sealOne(sealer: Sealer, message: Buffer): { prefix: Buffer; sealed: Buffer } {
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(message.byteLength + TAG_BYTES);
  return { prefix, sealed: Buffer.concat(sealer.seal(prefix, [message])) };
}

/** `sealed` copied into a buffer of a shared pool, as the channel does. */
function inShared(sealed: Buffer): Buffer {
  const into = Buffer.from(new SharedArrayBuffer(sealed.byteLength + 1000), 0, sealed.byteLength);
  copyBytes(into, sealed, 0);
  return into;
}

t.test('a large frame opens in place in shared memory, in order with frames opened on the event loop', async (t) => {
  const sealer = new Sealer(KEY);
  const opener = new Opener(KEY);
  const big1 = randomBytes(3 * 1024 * 1024 + 17);
  const small = randomBytes(100);
  const big2 = randomBytes(POOLED_FRAME_BYTES);
  const f1 = sealOne(sealer, big1);
  const f2 = sealOne(sealer, small);
  const f3 = sealOne(sealer, big2);
  const p1 = opener.openInPlace(f1.prefix, inShared(f1.sealed));
  const plain2 = opener.open(f2.prefix, f2.sealed);
  const p3 = opener.openInPlace(f3.prefix, inShared(f3.sealed));
  const [plain1, plain3] = await Promise.all([p1, p3]);
  t.ok(plain1.buffer instanceof SharedArrayBuffer, 'the plaintext is a view of the shared buffer it was opened in');
  t.ok(plain1.equals(big1), 'the first large frame holds what was sealed');
  t.ok(plain2.equals(small), 'the small frame between, opened on the event loop, too');
  t.ok(plain3.equals(big2), 'and the second large frame');
});

t.test('a large frame that does not authenticate is refused', async (t) => {
  const sealer = new Sealer(KEY);
  const f = sealOne(sealer, randomBytes(POOLED_FRAME_BYTES + 5));
  const flipped = inShared(f.sealed);
  flipped[1000] ^= 1;
  await t.rejects(new Opener(KEY).openInPlace(f.prefix, flipped), { code: 'BAD_FRAME' }, 'a flipped bit');
  const g = sealOne(sealer, randomBytes(POOLED_FRAME_BYTES)); // sealed under counter 1
  await t.rejects(new Opener(KEY).openInPlace(g.prefix, inShared(g.sealed)), { code: 'BAD_FRAME' }, 'a frame opened under another counter (replayed or reordered)');
  const h = sealOne(new Sealer(KEY), randomBytes(POOLED_FRAME_BYTES));
  const otherPrefix = Buffer.from(h.prefix);
  otherPrefix[0] ^= 0x80;
  await t.rejects(new Opener(KEY).openInPlace(otherPrefix, inShared(h.sealed)), { code: 'BAD_FRAME' }, 'a frame whose length prefix (its associated data) changed');
});

t.test("with AES-256-GCM (the handshake's suite 1): sealed by the worker into shared memory, opened in place, refused when changed", async (t) => {
  const sealer = new Sealer(KEY, 'aes-256-gcm');
  const opener = new Opener(KEY, 'aes-256-gcm');
  const big = randomBytes(POOLED_FRAME_BYTES + 3);
  const prefix = Buffer.alloc(4);
  prefix.writeUInt32BE(big.byteLength + TAG_BYTES);
  const parts = [big.subarray(0, 10), inShared(big.subarray(10))];
  const out = Buffer.from(new SharedArrayBuffer(big.byteLength + TAG_BYTES));
  const sealed = await sealer.sealShared(prefix, parts, out);
  t.ok(sealed.equals(Buffer.concat(new Sealer(KEY, 'aes-256-gcm').seal(prefix, [big]))), 'the worker seals what seal() seals');
  t.notOk(sealed.equals(Buffer.concat(new Sealer(KEY).seal(prefix, [big]))), 'and not what ChaCha20-Poly1305 seals');
  t.ok((await opener.openInPlace(prefix, inShared(sealed))).equals(big), 'opened in place');
  const flipped = inShared(Buffer.concat(sealer.seal(prefix, [big])));
  flipped[5000] ^= 1;
  await t.rejects(opener.openInPlace(prefix, flipped), { code: 'BAD_FRAME' }, 'a flipped bit');
  const next = sealOne(new Sealer(KEY, 'aes-256-gcm'), randomBytes(POOLED_FRAME_BYTES)); // counter 0, the opener is at 2
  await t.rejects(new Opener(KEY, 'aes-256-gcm').openInPlace(next.prefix, inShared(Buffer.concat(sealer.seal(next.prefix, [randomBytes(POOLED_FRAME_BYTES)])))), { code: 'BAD_FRAME' }, 'a frame opened under another counter');
  await t.rejects(new Opener(KEY).openInPlace(next.prefix, inShared(next.sealed)), { code: 'BAD_FRAME' }, 'not as ChaCha20-Poly1305');
});

t.test('sealInto writes the frame seal() makes', async (t) => {
  const parts = [Buffer.from([1, 2, 3, 4, 5]), randomBytes(32), Buffer.alloc(4, 9), randomBytes(200_000), randomBytes(7), randomBytes(70_000)];
  const prefix = Buffer.from([0, 0, 0, 1]);
  const a = Buffer.concat(new Sealer(KEY).seal(prefix, parts));
  const into = Buffer.alloc(a.byteLength + 100);
  const b = new Sealer(KEY).sealInto(prefix, parts, into);
  t.ok(b.equals(a), 'byte for byte');
  t.throws(() => new Sealer(KEY).sealInto(prefix, parts, Buffer.alloc(a.byteLength - 1)), { code: 'BAD_ARGUMENT' }, 'a buffer too small is refused');
});

t.test('the pool hands back out what was given back, and only its own', async (t) => {
  const pool = new FramePool({ shared: true, maxFreeBytes: 1024 * 1024 });
  const a = pool.take(300_000);
  t.equal(a.byteLength, 300_000, 'a view of the size asked for');
  t.ok(a.buffer instanceof SharedArrayBuffer && a.buffer.byteLength >= 300_000, 'over a shared buffer at least that large');
  t.ok(pool.owns(a.buffer));
  pool.give(a.buffer);
  pool.give(a.buffer);
  t.equal(pool.freeBytes, a.buffer.byteLength, 'given back twice, kept once');
  const b = pool.take(290_000);
  t.equal(b.buffer, a.buffer, 'a buffer of the same size class is reused');
  t.same(pool.stats, { made: 1, reused: 1 });
  const foreign = new SharedArrayBuffer(300_000);
  t.notOk(pool.owns(foreign));
  pool.give(foreign);
  t.equal(pool.freeBytes, 0, 'a buffer that is not the pool\'s is not taken');
  const many = [pool.take(600_000), pool.take(600_000)];
  for (const m of many) pool.give(m.buffer);
  t.ok(pool.freeBytes <= 1024 * 1024, 'no more than maxFreeBytes are kept');
  const plain = new FramePool({ shared: false, maxFreeBytes: 1024 * 1024 });
  t.ok(plain.take(10).buffer instanceof ArrayBuffer, 'a pool of plain buffers');
});

t.test('an idle pool lets go of what it kept, down to keepIdleBytes', async (t) => {
  const timers: Array<() => void> = [];
  const pool = new FramePool({ shared: false, maxFreeBytes: 4 * 1024 * 1024, keepIdleBytes: 256 * 1024, setTimer: (fn) => void timers.push(fn) });
  const taken = [pool.take(100), pool.take(100), pool.take(100)];
  for (const b of taken) pool.give(b.buffer);
  t.equal(pool.freeBytes, 3 * 256 * 1024, 'three kept while busy');
  t.equal(timers.length, 1, 'one idle check armed');
  pool.take(100);
  timers.shift()!();
  t.equal(pool.freeBytes, 2 * 256 * 1024, 'a take since: nothing let go yet');
  t.equal(timers.length, 1, 'it looks again later');
  timers.shift()!();
  t.equal(pool.freeBytes, 256 * 1024, 'idle: down to keepIdleBytes');
});

t.test('copyBytes copies to and from shared memory', async (t) => {
  const src = randomBytes(200_000);
  const shared = Buffer.from(new SharedArrayBuffer(300_000));
  t.equal(copyBytes(shared, src, 50_000), 250_000, 'it returns where the copy ended');
  t.ok(shared.subarray(50_000, 250_000).equals(src), 'into shared memory');
  t.equal(shared[49_999], 0, 'nothing before');
  t.equal(shared[250_000], 0, 'nothing after');
  const back = Buffer.alloc(200_000);
  copyBytes(back, shared.subarray(50_000, 250_000), 0);
  t.ok(back.equals(src), 'and out of it');
  t.equal(copyBytes(back, Buffer.alloc(0), 5), 5, 'nothing to copy');
  t.throws(() => copyBytes(back, src, 1), RangeError, 'a copy that does not fit is refused');
});

/** A listening socket on loopback, closed at the test's end: `pair()` makes a connected dialer and listener channel through it. */
async function loopback(t: Test): Promise<{ pair(dialerAes?: boolean): Promise<{ dialer: SecureChannel; listener: SecureChannel }> }> {
  const a = new Signer(keyPairFromSeed(Buffer.alloc(32, 1)));
  const b = new Signer(keyPairFromSeed(Buffer.alloc(32, 2)));
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return {
    async pair(dialerAes?: boolean) {
      const accepted = once(server, 'connection').then(([s]) => SecureChannel.accept(s as Socket, { signer: b, isMember: () => true }));
      const socket = connect((server.address() as AddressInfo).port, '127.0.0.1');
      await once(socket, 'connect');
      const dialer = await SecureChannel.dial(socket, { signer: a, isMember: () => true, ...(dialerAes !== undefined ? { aesGcm: dialerAes } : {}) });
      return { dialer, listener: await accepted };
    },
  };
}

t.test('a channel carries large messages through the pool byte for byte', async (t) => {
  const { dialer, listener } = await (await loopback(t)).pair();
  const sent = [randomBytes(POOLED_FRAME_BYTES), randomBytes(10), randomBytes(2 * 1024 * 1024), randomBytes(POOLED_FRAME_BYTES - 1), randomBytes(5 * 1024 * 1024)];
  const made = receivedFrames.stats.made + receivedFrames.stats.reused;
  for (const m of sent) await dialer.send([m.subarray(0, 3), m.subarray(3)]);
  for (const m of sent) {
    const got = await listener.receive();
    t.ok(got !== null && got.equals(m), `a message of ${m.byteLength} bytes arrives whole`);
    t.equal(got!.buffer instanceof SharedArrayBuffer, m.byteLength >= POOLED_FRAME_BYTES, 'in a pooled buffer when large');
  }
  t.equal(receivedFrames.stats.made + receivedFrames.stats.reused - made, 3, 'three frames went through the pool');
  // Large messages in shared memory are sealed by the worker; sent at once with small ones
  // between, every frame still goes out in the order of its nonce.
  const shared = (n: number): Buffer => {
    const b = Buffer.from(new SharedArrayBuffer(n));
    copyBytes(b, randomBytes(n), 0);
    return b;
  };
  const mixed = [shared(2 * 1024 * 1024), randomBytes(50), shared(POOLED_FRAME_BYTES), randomBytes(60), randomBytes(70), shared(3 * 1024 * 1024)];
  const copies = mixed.map((m) => Buffer.from(m));
  await Promise.all(mixed.map((m) => dialer.send([m.subarray(0, 5), m.subarray(5)])));
  for (const [i, m] of copies.entries()) {
    const got = await listener.receive();
    t.ok(got !== null && got.equals(m), `message ${i} (${m.byteLength} bytes) arrives whole and in order`);
  }
  await dialer.close();
  t.equal(await listener.receive(), null, 'then the channel ends cleanly');
  listener.destroy();
});

t.test('a channel takes AES-256-GCM when both sides offer it, ChaCha20-Poly1305 with a peer from before the offer', async (t) => {
  const net = await loopback(t);
  for (const [dialerAes, want] of [[true, 'aes-256-gcm'], [false, 'chacha20-poly1305']] as const) {
    const { dialer, listener } = await net.pair(dialerAes);
    t.equal(dialer.cipher, want, `the dialer ${dialerAes ? 'offers' : 'does not offer'} it: ${want}`);
    t.equal(listener.cipher, want, 'both sides agree');
    const big = randomBytes(2 * 1024 * 1024);
    const back = randomBytes(POOLED_FRAME_BYTES + 9);
    await dialer.send([big]);
    await listener.send([back]);
    t.ok((await listener.receive())!.equals(big), 'a large frame arrives whole');
    t.ok((await dialer.receive())!.equals(back), 'and one the other way');
    await dialer.close();
    t.equal(await listener.receive(), null, 'then the channel ends cleanly');
    listener.destroy();
  }
});

t.test('a message of large blocks opened in place has its blocks hashed there too, when asked and only then', async (t) => {
  const want = { minCount: 3, minBytes: 32 * 1024, maxBytes: 128 * 1024 };
  const blocksOf = (sizes: number[]): Array<[Buffer, Buffer]> =>
    sizes.map((n) => {
      const data = randomBytes(n);
      return [createHash('sha256').update(data).digest(), data];
    });
  const opened = async (message: Buffer[], blocks?: typeof want): Promise<Buffer> => {
    const sealer = new Sealer(KEY, 'aes-256-gcm');
    const plain = Buffer.concat(message);
    const f = sealOne(sealer, plain);
    return new Opener(KEY, 'aes-256-gcm').openInPlace(f.prefix, inShared(f.sealed), blocks);
  };
  const big = blocksOf([128 * 1024, 100 * 1024, 64 * 1024, 128 * 1024]);
  const plain = await opened(encodeMessage({ type: 'blocks', blocks: big, crcs: big.map(() => 7) }), want);
  const got = openedBlocks.take(plain);
  t.ok(got !== null, 'a BLOCKS_CRC of four large blocks: hashed');
  const m = decodeMessage(plain);
  if (m.type !== 'blocks' || got === null) throw new Error('not blocks');
  m.blocks.forEach(([hash, data], i) => {
    t.equal(got.spans[2 * i]! + plain.byteOffset, data.byteOffset, `block ${i}: where the message holds it`);
    t.equal(got.spans[2 * i + 1], data.byteLength);
    t.ok(got.hashes.subarray(32 * i, 32 * i + 32).equals(hash), 'its SHA-256');
  });
  t.equal(openedBlocks.take(plain), null, 'taken once');
  const forged = blocksOf([128 * 1024, 128 * 1024, 128 * 1024]);
  forged[1]![1][0] ^= 1; // the content no longer has the hash it is sent with: hashed as it is
  const p2 = await opened(encodeMessage({ type: 'blocks', blocks: forged, crcs: [1, 2, 3] }), want);
  t.notOk(openedBlocks.take(p2)!.hashes.subarray(32, 64).equals(forged[1]![0]), 'the hash of what came, not of what was asked for');
  t.equal(openedBlocks.take(await opened(encodeMessage({ type: 'blocks', blocks: big, crcs: big.map(() => 7) }))), null, 'not asked: not hashed');
  t.equal(openedBlocks.take(await opened(encodeMessage({ type: 'blocks', blocks: big }), want)), null, 'a BLOCKS (no CRCs): not hashed');
  const small = blocksOf([128 * 1024, 1000, 128 * 1024, 128 * 1024]);
  t.equal(openedBlocks.take(await opened(encodeMessage({ type: 'blocks', blocks: small, crcs: [1, 2, 3, 4] }), want)), null, 'a small block among them: not hashed');
  t.equal(openedBlocks.take(await opened(encodeMessage({ type: 'blocks', blocks: big.slice(0, 2), crcs: [1, 2] }), want)), null, 'two blocks, minCount 3: not hashed');
  t.equal(openedBlocks.take(await opened([randomBytes(POOLED_FRAME_BYTES)], want)), null, 'another message: not hashed');
});
