/**
 * Deterministic CBOR (log/cbor.ts): the same value always gives the same bytes, integers take
 * their shortest form (beyond 32 bits a CBOR uint64/nint, never a float), map keys are sorted
 * length-first then bytewise whatever the insertion order, byte strings are major type 2 with
 * no tag, and anything outside that model is refused.
 */
import t from 'tap';
import { decodeCbor, encodeCanonical, LogError, type CborValue } from '../../log/index.js';

const hex = (v: CborValue): string => encodeCanonical(v).toString('hex');

t.test('integers take their shortest form', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '00'],
    [23, '17'],
    [24, '1818'],
    [255, '18ff'],
    [256, '190100'],
    [65535, '19ffff'],
    [65536, '1a00010000'],
    [0xffffffff, '1affffffff'],
    [0x100000000, '1b0000000100000000'],
    [Number.MAX_SAFE_INTEGER, '1b001fffffffffffff'],
    [-1, '20'],
    [-24, '37'],
    [-25, '3818'],
    [-256, '38ff'],
    [-257, '390100'],
    [-65536, '39ffff'],
    [-65537, '3a00010000'],
    [-0x100000000, '3affffffff'],
    [-0x100000001, '3b0000000100000000'],
    [Number.MIN_SAFE_INTEGER, '3b001ffffffffffffe'],
    [-0, '00'],
  ];
  for (const [n, want] of cases) {
    t.equal(hex(n), want, `${n} encodes as ${want}`);
    t.equal(decodeCbor(encodeCanonical(n)), n === 0 ? 0 : n, `${n} decodes back to the same number`);
  }
});

t.test('strings, byte strings, arrays and simple values', async (t) => {
  t.equal(hex(''), '60');
  t.equal(hex('a'.repeat(23)), `77${'61'.repeat(23)}`, '23-byte string: length in the initial byte');
  t.equal(hex('a'.repeat(24)), `7818${'61'.repeat(24)}`, '24-byte string: one length byte');
  // Length is the UTF-8 byte length, in its shortest form, even when the character count is smaller.
  t.equal(hex('é'.repeat(12)).slice(0, 4), '7818', '12 × é = 24 UTF-8 bytes');
  t.equal(hex('é'.repeat(128)).slice(0, 6), '790100', '128 × é = 256 UTF-8 bytes');
  t.equal(hex('é'.repeat(90)).slice(0, 4), '78b4', '90 × é = 180 bytes keeps a one-byte length');
  t.equal(hex('😀'), '64f09f9880', 'an astral character is 4 UTF-8 bytes');
  t.equal(hex(new Uint8Array([1, 2, 3])), '43010203', 'byte strings are major type 2, untagged');
  t.equal(hex(Buffer.from([1, 2, 3])), '43010203', 'a Buffer encodes like any Uint8Array');
  t.equal(hex(new Uint8Array(new Uint8Array([9, 1, 2, 3, 9]).buffer, 1, 3)), '43010203', 'a view encodes only its own bytes');
  t.equal(hex(new Uint8Array(24)).slice(0, 4), '5818');
  t.equal(hex([]), '80');
  t.equal(hex(new Array<number>(24).fill(0)).slice(0, 4), '9818', '24 items: one length byte');
  t.equal(hex([true, false, null]), '83f5f4f6');
  const back = decodeCbor(encodeCanonical(new Uint8Array([7, 8])));
  t.ok(back instanceof Uint8Array, 'a byte string decodes to bytes');
  t.same([...(back as Uint8Array)], [7, 8]);
});

t.test('map keys are sorted length-first, then bytewise, whatever the insertion order', async (t) => {
  t.equal(hex({ b: 1, a: 2 }), 'a2616102616201', 'a before b');
  t.equal(hex({ aa: 1, b: 2 }), 'a261620262616101', 'shorter key first: b before aa');
  // Integer-like keys are where JavaScript's own property order differs from CBOR's: an object
  // lists "10" before "a" however it was built, but "a" is shorter and must come first.
  t.equal(hex({ a: 1, '10': 2 }), 'a2616101623130' + '02', '"a" (1 byte) before "10" (2 bytes)');
  t.equal(hex({ '10': 2, a: 1 }), hex({ a: 1, '10': 2 }), 'same bytes for either insertion order');
  t.equal(hex({ '2': 0, '10': 1, '1': 2 }).slice(0, 2), 'a3');
  t.same(Object.keys(decodeCbor(encodeCanonical({ b: 0, '10': 1, a: 2, '2': 3 })) as object).sort(), ['10', '2', 'a', 'b']);
  // "é" is 2 UTF-8 bytes: it sorts after every 1-byte key, and among 2-byte keys by its bytes.
  t.equal(hex({ é: 1, z: 2, zz: 3 }), 'a3617a02627a7a0362c3a901', 'length is counted in UTF-8 bytes (é = c3a9 sorts after zz = 7a7a)');
  // Deeply nested maps are sorted too.
  const a = { outer: { y: [1, { d: 1, c: 2 }], x: 0 }, k: new Uint8Array([1]) };
  const b = { k: new Uint8Array([1]), outer: { x: 0, y: [1, { c: 2, d: 1 }] } };
  t.equal(hex(a), hex(b), 'nested maps built in different orders encode identically');
  // An own "__proto__" key is data like any other, not a prototype.
  const proto = JSON.parse('{"__proto__": 1, "a": 2}') as CborValue;
  t.equal(hex(proto), 'a2616102695f5f70726f746f5f5f01', '"__proto__" is kept as a key');
  t.equal(hex({ a: 1, gone: undefined }), hex({ a: 1 }), 'undefined members are left out');
});

t.test('the same value gives the same bytes every time', async (t) => {
  const value: CborValue = { events: [{ type: 'write', path: '/a/ü', data: new Uint8Array([0, 255]), at: 2 ** 40, delta: -7 }], n: null };
  const first = encodeCanonical(value);
  for (let i = 0; i < 5; i++) t.same(encodeCanonical(value), first, `encoding ${i + 2} equals the first`);
  const copy = structuredClone(value);
  t.same(encodeCanonical(copy), first, 'a structured clone encodes the same');
});

t.test('values outside the model are refused', async (t) => {
  const bad: Array<[string, unknown]> = [
    ['a float', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['an unsafe integer', 2 ** 53],
    ['a bigint', 5n],
    ['undefined', undefined],
    ['a function', () => 1],
    ['a float inside a map', { a: [0.5] }],
  ];
  for (const [what, v] of bad) {
    t.throws(() => encodeCanonical(v as CborValue), { name: 'LogError', code: 'MALFORMED_ENTRY' }, `${what} is refused`);
  }
  t.ok(new LogError('MALFORMED_ENTRY', 'x') instanceof Error);
});
