/**
 * The keys written into a sub-database since it was emptied, as a Bloom filter of fixed size:
 * "not in the filter" means "not in the database", so a rebuild (which reads mostly keys that
 * nobody wrote yet: a new node's row, its name in its directory) need not ask LMDB for them.
 * An LMDB read costs 1.5-2.5 us through lmdb-js; asking the filter, a hash of the key.
 *
 * The filter's size is fixed (memory does not grow with the tree); once it holds more keys
 * than it answers well for, it gives up and every read goes to LMDB again.
 */

/** 2^23 bits (1 MiB): at 4 hashes, about 1% false "maybe" at the capacity below. */
const BITS_LOG2 = 23;
const MASK = (1 << BITS_LOG2) - 1;
const CAPACITY = 800_000;

/** Two 32-bit FNV-1a style hashes of a string or number key (double hashing gives the rest). */
function hashes(key: string | number, out: Uint32Array): void {
  let h1 = 0x811c9dc5;
  let h2 = 0x050c5d1f;
  if (typeof key === 'number') {
    const lo = key >>> 0;
    const hi = Math.floor(key / 4294967296) >>> 0;
    h1 = Math.imul(h1 ^ lo, 16777619);
    h1 = Math.imul(h1 ^ hi, 16777619);
    h2 = Math.imul(h2 ^ hi, 2246822507);
    h2 = Math.imul(h2 ^ lo, 3266489909);
  } else {
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 16777619);
      h2 = Math.imul(h2 ^ c, 2246822507);
    }
  }
  h2 ^= h2 >>> 15;
  out[0] = h1;
  out[1] = h2 | 1;
}

export class WrittenKeys {
  #bits: Int32Array | null = null;
  #count = 0;
  #full = false;
  readonly #h = new Uint32Array(2);

  /** False once the filter holds too many keys to be useful: then it knows nothing. */
  get useful(): boolean {
    return !this.#full;
  }

  add(key: string | number): void {
    if (this.#full) return;
    if (++this.#count > CAPACITY) {
      this.#full = true;
      this.#bits = null;
      return;
    }
    // Allocated at the first write: most sub-databases of a rebuild are never written.
    const bits = (this.#bits ??= new Int32Array(1 << (BITS_LOG2 - 5)));
    hashes(key, this.#h);
    const [h1, h2] = this.#h;
    for (let i = 0; i < 4; i++) {
      const b = (h1! + Math.imul(i, h2!)) & MASK;
      bits[b >>> 5]! |= 1 << (b & 31);
    }
  }

  /** False: the key was never written. True: it may have been (or the filter gave up). */
  mayHave(key: string | number): boolean {
    if (this.#full) return true;
    const bits = this.#bits;
    if (bits === null) return false;
    hashes(key, this.#h);
    const [h1, h2] = this.#h;
    for (let i = 0; i < 4; i++) {
      const b = (h1! + Math.imul(i, h2!)) & MASK;
      if ((bits[b >>> 5]! & (1 << (b & 31))) === 0) return false;
    }
    return true;
  }
}
