import t from 'tap';
import nacl from 'tweetnacl';
import {
  createEntry,
  decodeRecord,
  encodeBody,
  entryHash,
  generateKeyPair,
  keyPairFromSeed,
  Signer,
  verifyEntry,
  verifySignature,
  type Entry,
} from '../../log/index.js';
import { chain, seededBytes, signerFor } from './helpers/util.js';

t.test('node:crypto signatures verify with tweetnacl and back', async (t) => {
  const pair = keyPairFromSeed(new Uint8Array(32).fill(7));
  const signer = new Signer(pair);
  const msg = new TextEncoder().encode('hello');
  const sig = signer.sign(msg);
  t.ok(nacl.sign.detached.verify(msg, sig, pair.publicKey), 'tweetnacl verifies a node:crypto signature');
  const naclSig = nacl.sign.detached(msg, pair.secretKey);
  t.ok(verifySignature(pair.publicKey, msg, naclSig), 'node:crypto verifies a tweetnacl signature');
  t.same(Buffer.from(sig), Buffer.from(naclSig), 'Ed25519 is deterministic: both sign the same bytes');
});

t.test('RFC 8032 test vector 1 (empty message)', async (t) => {
  const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
  const pub = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
  const sig =
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
  const pair = keyPairFromSeed(new Uint8Array(seed));
  t.equal(Buffer.from(pair.publicKey).toString('hex'), pub, 'the public key derived from the seed');
  t.same(Buffer.from(pair.secretKey), Buffer.concat([seed, Buffer.from(pub, 'hex')]), 'secret key = seed || public key (tweetnacl format)');
  t.equal(Buffer.from(new Signer(pair).sign(new Uint8Array(0))).toString('hex'), sig, 'node:crypto produces the RFC signature');
  t.ok(verifySignature(pair.publicKey, new Uint8Array(0), Buffer.from(sig, 'hex')), 'and verifies it');
  t.ok(nacl.sign.detached.verify(new Uint8Array(0), Buffer.from(sig, 'hex'), pair.publicKey), 'tweetnacl agrees');
});

t.test('entry signatures cross-verify with tweetnacl', async (t) => {
  const signer = signerFor('alice');
  const entries = chain(signer, 5, { events: (seq) => [{ type: 'write', seq, data: new Uint8Array(seq * 10).fill(seq) }] });
  for (const e of entries) {
    t.ok(nacl.sign.detached.verify(e.hash, e.signature, e.author), `tweetnacl verifies entry ${e.seq} (signature over the tagged hash)`);
    t.notOk(nacl.sign.detached.verify(e.body, e.signature, e.author), `entry ${e.seq}: the signature is not over the raw body`);
  }
  // An entry signed with tweetnacl alone is accepted by the log.
  const secretKey = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(3)).secretKey;
  const pair = keyPairFromSeed(new Uint8Array(32).fill(3));
  const fields = { author: pair.publicKey, area: 'photos', seq: 0, prev: null, hlc: 1, heads: [], events: [{ type: 'note' }] };
  const body = encodeBody(fields);
  const hash = entryHash(body);
  const naclEntry: Entry = { ...fields, body, hash, signature: nacl.sign.detached(hash, secretKey) };
  verifyEntry(naclEntry);
  t.pass('verifyEntry accepts a tweetnacl-signed entry');
  const ours = createEntry(fields, new Signer(pair));
  t.same(Buffer.from(ours.signature), Buffer.from(naclEntry.signature), 'and it is the very signature the log would have made');
  const bad = Buffer.concat([body, nacl.sign.detached(hash, nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(4)).secretKey)]);
  t.throws(() => verifyEntry(decodeRecord(bad)), { code: 'BAD_SIGNATURE' }, 'a tweetnacl signature by another key is refused');
});

t.test('key handling', async (t) => {
  const a = generateKeyPair(seededBytes(1));
  const b = generateKeyPair(seededBytes(1));
  t.same(Buffer.from(a.publicKey), Buffer.from(b.publicKey), 'injected randomness: the same seed gives the same key');
  t.notSame(Buffer.from(generateKeyPair(seededBytes(2)).publicKey), Buffer.from(a.publicKey));
  t.throws(() => keyPairFromSeed(new Uint8Array(31)), { code: 'BAD_KEY' }, 'a seed is 32 bytes');
  t.throws(() => new Signer({ publicKey: a.publicKey, secretKey: new Uint8Array(32) }), { code: 'BAD_KEY' }, 'a secret key is 64 bytes');
  const other = keyPairFromSeed(new Uint8Array(32).fill(9));
  t.throws(() => new Signer({ publicKey: other.publicKey, secretKey: a.secretKey }), { code: 'BAD_KEY' }, 'a secret key must match its public key');
  t.notOk(verifySignature(new Uint8Array(31), new Uint8Array(1), new Uint8Array(64)), 'a 31-byte public key verifies nothing');
  t.notOk(verifySignature(a.publicKey, new Uint8Array(1), new Uint8Array(63)), 'a 63-byte signature verifies nothing');
});
