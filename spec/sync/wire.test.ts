/**
 * The wire format (spec/wire-format.md): the golden fixtures (never regenerated) still come
 * out byte for byte, and an independent implementation (tweetnacl's X25519 and Ed25519,
 * node's HKDF) agrees with them; handshake rules (replay, reflection, wrong/unknown key); and
 * what a listener does with garbage, a frame cut in half and an oversized frame: a clear log
 * line, the connection closed, nothing applied, everyone else still served.
 */
import { hkdfSync, createHash, createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { connect, type Socket } from 'node:net';
import nacl from 'tweetnacl';
import t from 'tap';
import { keyPairFromSeed, Signer, toHex } from '../../log/index.js';
import { decodeMessage, handshake, Opener, Sealer, SecureChannel, SyncError } from '../../engine/sync/index.js';
import { computeAesGcmFixture, computeBlocksCrcFixture, computeWireFixture, DIALER_EPHEMERAL, LISTENER_EPHEMERAL } from '../fixtures/wire/wire-fixture.js';
import { area, follow, household, lengths, makePeer, syncOnce, until, writeFile } from './helpers/peers.js';

const golden = JSON.parse(readFileSync(new URL('../fixtures/wire/handshake.json', import.meta.url), 'utf8')) as Record<string, unknown> & {
  messages: Record<string, string>;
  frames: Record<string, string>;
};
const hex = (s: unknown): Buffer => Buffer.from(s as string, 'hex');

/** The fixtures' ephemeral public keys, by tweetnacl (an implementation independent of the code's). */
function ephemerals(): { eD: Uint8Array; eL: Uint8Array } {
  return { eD: nacl.scalarMult.base(DIALER_EPHEMERAL), eL: nacl.scalarMult.base(LISTENER_EPHEMERAL) };
}

/** th computed here from the spec's words: SHA-256(tag || eC || idC || eS || idS [|| suite]). */
function transcriptOf(eD: Uint8Array, eL: Uint8Array, suite?: Buffer): Buffer {
  const h = createHash('sha256').update('realize/wire/v1 transcript\0').update(eD).update(hex(golden.dialerKey)).update(eL).update(hex(golden.listenerKey));
  if (suite !== undefined) h.update(suite);
  return h.digest();
}

t.test('golden fixtures: the code produces them byte for byte', async (t) => {
  t.same(computeWireFixture(), golden);
});

t.test('golden fixtures: an independent implementation agrees', async (t) => {
  const { eD, eL } = ephemerals();
  const hello = hex(golden.hello);
  t.equal(hello.subarray(0, 8).toString('hex'), '524c5a5701010000', 'RLZW, version 1, HELLO, reserved');
  t.same(hello.subarray(8, 40), Buffer.from(eD), 'the dialer ephemeral key');
  t.equal(hello.subarray(40, 72).toString('hex'), golden.dialerKey);
  const reply = hex(golden.reply);
  t.same(reply.subarray(8, 40), Buffer.from(eL), 'the listener ephemeral key');
  const th = transcriptOf(eD, eL);
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

t.test('golden AES-256-GCM: the code produces it byte for byte, and an independent implementation agrees', async (t) => {
  const aes = JSON.parse(readFileSync(new URL('../fixtures/wire/aes-gcm.json', import.meta.url), 'utf8')) as Record<string, string> & { messages: Record<string, string>; frames: Record<string, string> };
  t.same(computeAesGcmFixture(), aes);
  const hello = hex(aes.hello);
  const reply = hex(aes.reply);
  t.equal(hello.subarray(0, 8).toString('hex'), '524c5a5701010001', 'HELLO offers AES-256-GCM (bytes 6-7: 1)');
  t.equal(reply.subarray(0, 8).toString('hex'), '524c5a5701020001', 'REPLY takes it (suite 1)');
  t.equal(hex(aes.auth).subarray(0, 8).toString('hex'), '524c5a5701030000', 'AUTH: reserved, zero');
  const { eD, eL } = ephemerals();
  const th = transcriptOf(eD, eL, Buffer.from([0, 1]));
  t.equal(th.toString('hex'), aes.transcript, 'th = SHA-256(tag || eC || idC || eS || idS || suite)');
  t.not(aes.transcript, golden.transcript, 'the suite is in th');
  t.ok(nacl.sign.detached.verify(Buffer.concat([Buffer.from('realize/wire/v1 listener\0'), th]), reply.subarray(72, 136), hex(golden.listenerKey)), "the listener's signature covers the suite");
  t.ok(nacl.sign.detached.verify(Buffer.concat([Buffer.from('realize/wire/v1 dialer\0'), th]), hex(aes.auth).subarray(8, 72), hex(golden.dialerKey)), "and the dialer's");
  const shared = nacl.scalarMult(DIALER_EPHEMERAL, eL);
  t.equal(Buffer.from(hkdfSync('sha256', shared, th, 'realize/wire/v1 dialer->listener', 32)).toString('hex'), aes.dialerToListenerKey);
  t.equal(Buffer.from(hkdfSync('sha256', shared, th, 'realize/wire/v1 listener->dialer', 32)).toString('hex'), aes.listenerToDialerKey);
  // frames: node's AES-256-GCM, nonce 00000000 || counter, aad the length prefix
  const openGcm = (key: string, f: string, counter: number): Buffer => {
    const b = hex(f);
    t.equal(b.readUInt32BE(0), b.byteLength - 4, 'the prefix is the sealed length');
    const nonce = Buffer.alloc(12);
    nonce.writeUInt32BE(counter, 8);
    const d = createDecipheriv('aes-256-gcm', hex(key), nonce, { authTagLength: 16 });
    d.setAAD(b.subarray(0, 4));
    d.setAuthTag(b.subarray(b.byteLength - 16));
    return Buffer.concat([d.update(b.subarray(4, b.byteLength - 16)), d.final()]);
  };
  t.equal(openGcm(aes.dialerToListenerKey, aes.frames['dialer0Have']!, 0).toString('hex'), aes.messages['have']);
  t.equal(openGcm(aes.listenerToDialerKey, aes.frames['listener0WantBlocks']!, 0).toString('hex'), aes.messages['wantBlocks']);
  const f = hex(aes.frames['dialer0Have']);
  t.equal(new Opener(hex(aes.dialerToListenerKey), 'aes-256-gcm').open(f.subarray(0, 4), f.subarray(4)).toString('hex'), aes.messages['have'], 'Opener opens it');
  t.throws(() => new Opener(hex(aes.dialerToListenerKey)).open(f.subarray(0, 4), f.subarray(4)), { code: 'BAD_FRAME' }, 'not as ChaCha20-Poly1305');
});

t.test('the frame cipher: offered, taken, and what a peer from before the offer does', async (t) => {
  const alice = new Signer(keyPairFromSeed(Buffer.alloc(32, 1)));
  const bob = new Signer(keyPairFromSeed(Buffer.alloc(32, 2)));
  const all = () => true;
  const pair = (dialerAes: boolean, listenerAes: boolean): [handshake.SessionKeys, handshake.SessionKeys] => {
    const d = handshake.dialerStart({ signer: alice, isMember: all, aesGcm: dialerAes });
    const l = handshake.listenerReply({ signer: bob, isMember: all, aesGcm: listenerAes }, handshake.decodeHandshake(d.hello));
    const fin = handshake.dialerFinish(d.state, handshake.decodeHandshake(l.reply));
    return [fin.keys, handshake.listenerFinish(l.state, handshake.decodeHandshake(fin.auth))];
  };
  const roundTrip = (send: handshake.SessionKeys, receive: handshake.SessionKeys): string => {
    const prefix = Buffer.from([0, 0, 0, 21]);
    const sealed = Buffer.concat(new Sealer(send.send, send.cipher).seal(prefix, [Buffer.from('hello')]));
    return new Opener(receive.receive, receive.cipher).open(prefix, sealed).toString();
  };
  for (const [dAes, lAes, want] of [[true, true, 'aes-256-gcm'], [true, false, 'chacha20-poly1305'], [false, true, 'chacha20-poly1305'], [false, false, 'chacha20-poly1305']] as const) {
    const [dk, lk] = pair(dAes, lAes);
    t.equal(dk.cipher, want, `dialer ${dAes ? 'offers' : 'does not offer'}, listener ${lAes ? 'takes' : 'does not take'} AES-256-GCM: ${want}`);
    t.equal(lk.cipher, want);
    t.equal(roundTrip(dk, lk), 'hello', 'a frame opens on the other side');
  }
  // The suite is signed: a REPLY whose suite was changed on the way does not verify.
  const d = handshake.dialerStart({ signer: alice, isMember: all });
  const l = handshake.listenerReply({ signer: bob, isMember: all }, handshake.decodeHandshake(d.hello));
  const downgraded = Buffer.from(l.reply);
  downgraded.writeUInt16BE(0, 6);
  t.throws(() => handshake.dialerFinish(d.state, handshake.decodeHandshake(downgraded)), { code: 'BAD_SIGNATURE' }, 'suite 1 changed to 0 on the way');
  const plain = handshake.dialerStart({ signer: alice, isMember: all, aesGcm: false });
  const lp = handshake.listenerReply({ signer: bob, isMember: all, aesGcm: false }, handshake.decodeHandshake(plain.hello));
  const upgraded = Buffer.from(lp.reply);
  upgraded.writeUInt16BE(1, 6);
  t.throws(() => handshake.dialerFinish(plain.state, handshake.decodeHandshake(upgraded)), { code: 'BAD_HANDSHAKE' }, 'a suite the dialer did not offer');
  const offered = handshake.dialerStart({ signer: alice, isMember: all });
  const lo = handshake.listenerReply({ signer: bob, isMember: all, aesGcm: false }, handshake.decodeHandshake(offered.hello));
  const forced = Buffer.from(lo.reply);
  forced.writeUInt16BE(1, 6);
  t.throws(() => handshake.dialerFinish(offered.state, handshake.decodeHandshake(forced)), { code: 'BAD_SIGNATURE' }, 'suite 0 changed to 1 on the way');
  const unknown = Buffer.from(l.reply);
  unknown.writeUInt16BE(7, 6);
  t.throws(() => handshake.dialerFinish(d.state, handshake.decodeHandshake(unknown)), { code: 'BAD_HANDSHAKE' }, 'a suite this side does not know');
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
