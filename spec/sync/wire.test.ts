/**
 * The wire format (spec/wire-format.md): the golden fixtures (never regenerated) still come
 * out byte for byte, and an independent implementation (tweetnacl's X25519 and Ed25519,
 * node's HKDF) agrees with them; handshake rules (replay, reflection, wrong/unknown key); and
 * what a listener does with garbage, a frame cut in half and an oversized frame: a clear log
 * line, the connection closed, nothing applied, everyone else still served.
 */
import { hkdfSync, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { connect, type Socket } from 'node:net';
import nacl from 'tweetnacl';
import t from 'tap';
import { keyPairFromSeed, Signer, toHex } from '../../log/index.js';
import { decodeMessage, handshake, Opener, SecureChannel, SyncError } from '../../engine/sync/index.js';
import { computeBlocksCrcFixture, computeWireFixture, DIALER_EPHEMERAL, LISTENER_EPHEMERAL } from '../fixtures/wire/wire-fixture.js';
import { area, follow, household, lengths, makePeer, syncOnce, until, writeFile } from './helpers/peers.js';

const golden = JSON.parse(readFileSync(new URL('../fixtures/wire/handshake.json', import.meta.url), 'utf8')) as Record<string, unknown> & {
  messages: Record<string, string>;
  frames: Record<string, string>;
};
const hex = (s: unknown): Buffer => Buffer.from(s as string, 'hex');

t.test('golden fixtures: the code produces them byte for byte', async (t) => {
  t.same(computeWireFixture(), golden);
});

t.test('golden fixtures: an independent implementation agrees', async (t) => {
  const eD = nacl.scalarMult.base(DIALER_EPHEMERAL);
  const eL = nacl.scalarMult.base(LISTENER_EPHEMERAL);
  const hello = hex(golden.hello);
  t.equal(hello.subarray(0, 8).toString('hex'), '524c5a5701010000', 'RLZW, version 1, HELLO, reserved');
  t.same(hello.subarray(8, 40), Buffer.from(eD), 'the dialer ephemeral key');
  t.equal(hello.subarray(40, 72).toString('hex'), golden.dialerKey);
  const reply = hex(golden.reply);
  t.same(reply.subarray(8, 40), Buffer.from(eL), 'the listener ephemeral key');
  const th = createHash('sha256')
    .update('realize/wire/v1 transcript\0')
    .update(eD)
    .update(hex(golden.dialerKey))
    .update(eL)
    .update(hex(golden.listenerKey))
    .digest();
  t.equal(th.toString('hex'), golden.transcript, 'th = SHA-256(tag || eC || idC || eS || idS)');
  const sigL = reply.subarray(72, 136);
  t.ok(nacl.sign.detached.verify(Buffer.concat([Buffer.from('realize/wire/v1 listener\0'), th]), sigL, hex(golden.listenerKey)), "tweetnacl verifies the listener's signature");
  const sigD = hex(golden.auth).subarray(8, 72);
  t.ok(nacl.sign.detached.verify(Buffer.concat([Buffer.from('realize/wire/v1 dialer\0'), th]), sigD, hex(golden.dialerKey)), "and the dialer's");
  const shared = nacl.scalarMult(DIALER_EPHEMERAL, eL);
  t.equal(Buffer.from(hkdfSync('sha256', shared, th, 'realize/wire/v1 dialer->listener', 32)).toString('hex'), golden.dialerToListenerKey);
  t.equal(Buffer.from(hkdfSync('sha256', shared, th, 'realize/wire/v1 listener->dialer', 32)).toString('hex'), golden.listenerToDialerKey);
  // frames open with the keys, counters in order, and hold the messages
  const open = (opener: Opener, f: string): Buffer => {
    const b = hex(f);
    t.equal(b.readUInt32BE(0), b.byteLength - 4, 'the prefix is the sealed length');
    return opener.open(b.subarray(0, 4), b.subarray(4));
  };
  const d = new Opener(hex(golden.dialerToListenerKey));
  const l = new Opener(hex(golden.listenerToDialerKey));
  t.equal(open(d, golden.frames['dialer0Have']!).toString('hex'), golden.messages['have']);
  t.equal(open(d, golden.frames['dialer1Entries']!).toString('hex'), golden.messages['entries']);
  t.equal(open(l, golden.frames['listener0WantBlocks']!).toString('hex'), golden.messages['wantBlocks']);
  t.equal(open(d, golden.frames['dialer2Blocks']!).toString('hex'), golden.messages['blocks']);
  t.equal(open(l, golden.frames['listener1Ack']!).toString('hex'), golden.messages['ack']);
  const entries = decodeMessage(hex(golden.messages['entries']));
  t.same(entries.type === 'entries' ? entries.records.map(String) : null, ['record zero', 'record one']);
  // a frame opened out of order, or in the other direction, fails
  t.throws(() => new Opener(hex(golden.dialerToListenerKey)).open(hex(golden.frames['dialer1Entries']).subarray(0, 4), hex(golden.frames['dialer1Entries']).subarray(4)), { code: 'BAD_FRAME' }, 'counter 1 does not open as counter 0 (replayed or reordered frame)');
  t.throws(() => new Opener(hex(golden.listenerToDialerKey)).open(hex(golden.frames['dialer0Have']).subarray(0, 4), hex(golden.frames['dialer0Have']).subarray(4)), { code: 'BAD_FRAME' }, "a dialer's frame does not open as the listener's (reflection)");
});

t.test('golden BLOCKS_CRC: the code produces it byte for byte; the CRCs are the raw records\' (spec/block-format.md), computed here by hand', async (t) => {
  const blocksCrc = JSON.parse(readFileSync(new URL('../fixtures/wire/blocks-crc.json', import.meta.url), 'utf8')) as { messages: Record<string, string>; crcs: number[] };
  t.same(computeBlocksCrcFixture(), blocksCrc);
  const have = decodeMessage(hex(blocksCrc.messages['haveCrcs']));
  t.same(have, { type: 'have', follows: ['home'], feeds: [[`${golden.dialerKey as string}.home`, 2]], crcs: true }, 'a have that takes CRCs');
  const plainHave = decodeMessage(hex(golden.messages['have']));
  t.equal(plainHave.type === 'have' ? plainHave.crcs : null, undefined, "version 1's first have (no crcs field) does not take them");
  const m = hex(blocksCrc.messages['blocksCrc']);
  t.equal(m[0], 10, 'type 10');
  const got = decodeMessage(m);
  if (got.type !== 'blocks') throw new Error('not blocks');
  t.same(got.crcs, blocksCrc.crcs);
  got.blocks.forEach(([hash, data], i) => {
    t.same(hash, createHash('sha256').update(data).digest(), 'hash || len || crc || content');
    const head = Buffer.alloc(48);
    head.write('RLZB', 0, 'latin1');
    head[4] = 1; // version
    head[5] = 0; // raw
    head.writeUInt32LE(data.byteLength, 8);
    head.writeUInt32LE(data.byteLength, 12);
    hash.copy(head, 16);
    t.equal(got.crcs![i], crc32(data, crc32(head)), `block ${i}: crc32(payload, crc32(header[0..48)))`);
  });
  t.throws(() => decodeMessage(m.subarray(0, m.byteLength - 1)), { code: 'PROTOCOL' }, 'a cut BLOCKS_CRC is malformed');
  const oldBlocks = decodeMessage(hex(golden.messages['blocks']));
  t.equal(oldBlocks.type === 'blocks' ? oldBlocks.crcs : null, undefined, 'a BLOCKS carries no CRCs');
});

t.test('handshake rules: replay, reflection, unknown and wrong keys', async (t) => {
  const alice = new Signer(keyPairFromSeed(Buffer.alloc(32, 1)));
  const bob = new Signer(keyPairFromSeed(Buffer.alloc(32, 2)));
  const all = () => true;
  const first = handshake.dialerStart({ signer: alice, isMember: all });
  const l1 = handshake.listenerReply({ signer: bob, isMember: all }, handshake.decodeHandshake(first.hello));
  const { auth } = handshake.dialerFinish(first.state, handshake.decodeHandshake(l1.reply));
  // Replay the same hello and auth to a new listener session: a fresh ephemeral key there.
  const l2 = handshake.listenerReply({ signer: bob, isMember: all }, handshake.decodeHandshake(first.hello));
  t.throws(() => handshake.listenerFinish(l2.state, handshake.decodeHandshake(auth)), { code: 'BAD_SIGNATURE' }, 'a replayed auth does not verify');
  // Reflection: the listener's own key as dialer.
  const reflected = handshake.dialerStart({ signer: bob, isMember: all });
  t.throws(() => handshake.listenerReply({ signer: bob, isMember: all }, handshake.decodeHandshake(reflected.hello)), { code: 'BAD_HANDSHAKE' });
  // A reply replayed to another dialer session (signature over the old transcript).
  const other = handshake.dialerStart({ signer: alice, isMember: all });
  t.throws(() => handshake.dialerFinish(other.state, handshake.decodeHandshake(l1.reply)), { code: 'BAD_SIGNATURE' });
  t.throws(() => handshake.listenerReply({ signer: bob, isMember: () => false }, handshake.decodeHandshake(first.hello)), { code: 'UNKNOWN_KEY' });
  const expecting = handshake.dialerStart({ signer: alice, isMember: all, expect: toHex(alice.publicKey) });
  t.throws(() => handshake.dialerFinish(expecting.state, handshake.decodeHandshake(l1.reply)), { code: 'WRONG_KEY' });
  t.throws(() => handshake.decodeHandshake(Buffer.from('GET / HTTP/1.1\r\n')), { code: 'NOT_REALIZE' });
  const v2 = Buffer.from(first.hello);
  v2[4] = 2;
  t.throws(() => handshake.decodeHandshake(v2), { code: 'BAD_VERSION' });
});

async function rawConnect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

function closed(s: Socket, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the listener did not close the connection')), ms);
    s.resume();
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

t.test('garbage, a cut frame, an oversized frame: refused, logged, closed; members still served', async (t) => {
  const a = await makePeer(t, 'a');
  const b = await makePeer(t, 'b');
  await household(a, b);
  await area(a, 'x');
  await follow(b, 'x');
  await writeFile(a, '/x/f', Buffer.from('data'));
  await b.start();
  const port = b.node!.address!.port;
  const before = lengths(b);
  const signer = a.engine.store.feeds.signer!;

  const garbage = await rawConnect(port);
  garbage.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  await closed(garbage);
  await until(() => b.logs.length >= 1, 5000, 'a log line');
  t.match(b.logs.at(-1), /refused connection from 127\.0\.0\.1:\d+: not a Realize handshake/, 'garbage');

  const cut = await rawConnect(port);
  const ch1 = await SecureChannel.dial(cut, { signer, isMember: () => true });
  const half = Buffer.alloc(4 + 500);
  half.writeUInt32BE(1000);
  cut.end(half);
  await closed(cut);
  await until(() => /ended inside a frame/.test(b.logs.join('\n')), 5000, 'the cut-frame line');
  t.match(b.logs.join('\n'), /connection with a .* closed: the connection ended inside a frame \(504 bytes of it arrived\)/, 'a frame cut in half');
  t.ok(ch1);

  const big = await rawConnect(port);
  await SecureChannel.dial(big, { signer, isMember: () => true });
  const huge = Buffer.alloc(4);
  huge.writeUInt32BE(0x7fffffff);
  big.write(huge);
  await closed(big);
  await until(() => /2147483647/.test(b.logs.join('\n')), 5000, 'the oversized line');
  t.match(b.logs.join('\n'), /a frame of 2147483647 bytes was announced; the limit is 16777232/, 'an oversized frame');

  t.same(lengths(b), before, 'nothing was applied from any of them');
  await syncOnce(a, b);
  t.ok(b.engine.lookup('/x/f'), 'b still serves its members');
  await t.rejects(SecureChannel.dial(await rawConnect(port), { signer, isMember: () => false }), SyncError, 'and refuses a listener the dialer does not know');
});
