import t from 'tap';
import nacl from 'tweetnacl';
import { keyPairFromSeed, Signer, verifySignature } from '../../log/index.js';

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
