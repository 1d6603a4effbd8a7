/**
 * The keys written into a sub-database since it was emptied, as a Bloom filter of fixed size:
 * "not in the filter" means "not in the database", so a rebuild (which reads mostly keys that
 * nobody wrote yet: a new node's row, its name in its directory) need not ask LMDB for them.
 * An LMDB read costs 1.5-2.5 us through lmdb-js; asking the filter, a hash of the key.
 *
 * The filter's size is fixed (memory does not grow with the tree); once it holds more keys
 * than it answers well for, it gives up and every read goes to LMDB again.
 */

/** 2^23 bits (1 MiB) in blocks of 512 bits (one 64-byte cache line): 2^14 blocks. */
const BITS_LOG2 = 23;
const BLOCK_WORDS_LOG2 = 4;
const BLOCKS_MASK = (1 << (BITS_LOG2 - 5 - BLOCK_WORDS_LOG2)) - 1;
/** At 4 bits per key, all in one block: about 1-2% false "maybe" at the capacity below. */
const CAPACITY = 800_000;

/**
 * A blocked Bloom filter: a key's 4 bits lie in one 512-bit block, so adding or asking costs
 * one cache miss instead of four. The key's two 32-bit hashes (FNV-1a style, two characters
 * a step) pick the block and the bits; they are kept in fields, not returned in an array.
 */
export class WrittenKeys {
  #bits: Int32Array | null = null;
  #count = 0;
  #full = false;
  #h1 = 0;
  #h2 = 0;

  /** False once the filter holds too many keys to be useful: then it knows nothing. */
  get useful(): boolean {
    return !this.#full;
  }

  #hash(key: string | number): void {
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
      const n = key.length;
      let i = 0;
      for (; i + 1 < n; i += 2) {
        const c = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16);
        h1 = Math.imul(h1 ^ c, 16777619);
        h2 = Math.imul(h2 ^ c, 2246822507);
      }
      if (i < n) {
        const c = key.charCodeAt(i) | 0x10000000;
        h1 = Math.imul(h1 ^ c, 16777619);
        h2 = Math.imul(h2 ^ c, 2246822507);
      }
    }
    // Final mixing (murmur3's): the low bits of a multiplicative hash are its weakest.
    h1 ^= h1 >>> 16;
    h1 = Math.imul(h1, 0x85ebca6b);
    h1 ^= h1 >>> 13;
    h2 ^= h2 >>> 15;
    h2 = Math.imul(h2, 0xc2b2ae35);
    h2 ^= h2 >>> 16;
    this.#h1 = h1;
    this.#h2 = h2;
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
    this.#hash(key);
    const base = (this.#h1 & BLOCKS_MASK) << BLOCK_WORDS_LOG2;
    const h2 = this.#h2;
    const h3 = this.#h1 >>> 18;
    // Four 9-bit positions in the block (4 bits of word, 5 of bit): from h2's 32 bits and h1's top.
    let b = h2 & 511;
    bits[base + (b >>> 5)]! |= 1 << (b & 31);
    b = (h2 >>> 9) & 511;
    bits[base + (b >>> 5)]! |= 1 << (b & 31);
    b = (h2 >>> 18) & 511;
    bits[base + (b >>> 5)]! |= 1 << (b & 31);
    b = ((h2 >>> 27) | (h3 << 5)) & 511;
    bits[base + (b >>> 5)]! |= 1 << (b & 31);
  }

  /** False: the key was never written. True: it may have been (or the filter gave up). */
  mayHave(key: string | number): boolean {
    if (this.#full) return true;
    const bits = this.#bits;
    if (bits === null) return false;
    this.#hash(key);
    const base = (this.#h1 & BLOCKS_MASK) << BLOCK_WORDS_LOG2;
    const h2 = this.#h2;
    const h3 = this.#h1 >>> 18;
    let b = h2 & 511;
    if ((bits[base + (b >>> 5)]! & (1 << (b & 31))) === 0) return false;
    b = (h2 >>> 9) & 511;
    if ((bits[base + (b >>> 5)]! & (1 << (b & 31))) === 0) return false;
    b = (h2 >>> 18) & 511;
    if ((bits[base + (b >>> 5)]! & (1 << (b & 31))) === 0) return false;
    b = ((h2 >>> 27) | (h3 << 5)) & 511;
    return (bits[base + (b >>> 5)]! & (1 << (b & 31))) !== 0;
  }
}
