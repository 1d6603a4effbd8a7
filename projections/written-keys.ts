/**
 * The keys written into a sub-database since it was emptied, as a Bloom filter:
 * "not in the filter" means "not in the database", so a rebuild (which reads mostly keys that
 * nobody wrote yet: a new node's row, its name in its directory) need not ask LMDB for them.
 * An LMDB read costs 1.5-2.5 us through lmdb-js; asking the filter, a hash of the key.
 *
 * The filter grows with the keys it holds, in levels four times larger each (16 KiB, 64 KiB,
 * 256 KiB, then 1 MiB), keys going into the newest level and a question asking each: a filter
 * of a few thousand keys stays in the CPU's caches (one of 1 MiB from the first key made nearly
 * every add and ask a cache miss, and zeroed 1 MiB of external memory per sub-database a
 * rebuild wrote to). Its size is bounded (memory does not grow with the tree); once the last
 * level holds more keys than it answers well for, it gives up and every read goes to LMDB again.
 */

const BLOCK_WORDS_LOG2 = 4;
/** The levels' sizes (2^17 bits, then four times more each) and how many keys each takes. */
const LEVELS: ReadonlyArray<{ readonly bitsLog2: number; readonly capacity: number }> = [
  // 32 bits a key in the smaller levels: each answers about 0.05% false "maybe", so a question
  // asked of several stays well under 1%.
  { bitsLog2: 17, capacity: 4_096 },
  { bitsLog2: 19, capacity: 16_384 },
  { bitsLog2: 21, capacity: 65_536 },
  // At 4 bits per key, all in one block: about 1-2% false "maybe" at this capacity.
  { bitsLog2: 23, capacity: 800_000 },
];

interface Level {
  readonly bits: Int32Array;
  /** The block of a hash: (h1 & mask) << BLOCK_WORDS_LOG2. */
  readonly mask: number;
  readonly capacity: number;
  count: number;
}

function newLevel(i: number): Level {
  const { bitsLog2, capacity } = LEVELS[i]!;
  return { bits: new Int32Array(1 << (bitsLog2 - 5)), mask: (1 << (bitsLog2 - 5 - BLOCK_WORDS_LOG2)) - 1, capacity, count: 0 };
}

/**
 * A blocked Bloom filter: a key's 4 bits lie in one 512-bit block, so adding or asking costs
 * one cache miss instead of four. The key's two 32-bit hashes (FNV-1a style, two characters
 * a step) pick the block and the bits; they are kept in fields, not returned in an array.
 */
export class WrittenKeys {
  /** The levels made so far, oldest first (none until the first key: most sub-databases of a rebuild are never written). */
  readonly #levels: Level[] = [];
  #full = false;
  #h1 = 0;
  #h2 = 0;

  /** False once the filter holds too many keys to be useful: then it knows nothing. */
  get useful(): boolean {
    return !this.#full;
  }

  /** Bytes of memory its levels take. */
  get bytes(): number {
    let n = 0;
    for (const l of this.#levels) n += l.bits.byteLength;
    return n;
  }

  /** The key last hashed: a row is often asked for and then written (get, then put), by the same key. */
  #lastKey: string | number | undefined = undefined;

  #hash(key: string | number): void {
    if (key === this.#lastKey) return;
    this.#lastKey = key;
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
    let level = this.#levels[this.#levels.length - 1];
    if (level === undefined || level.count >= level.capacity) {
      if (this.#levels.length === LEVELS.length) {
        this.#full = true;
        this.#levels.length = 0;
        return;
      }
      this.#levels.push((level = newLevel(this.#levels.length)));
    }
    level.count++;
    const bits = level.bits;
    this.#hash(key);
    const base = (this.#h1 & level.mask) << BLOCK_WORDS_LOG2;
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
    const levels = this.#levels;
    if (levels.length === 0) return false;
    this.#hash(key);
    const h1 = this.#h1;
    const h2 = this.#h2;
    const h3 = h1 >>> 18;
    const b0 = h2 & 511;
    const b1 = (h2 >>> 9) & 511;
    const b2 = (h2 >>> 18) & 511;
    const b3 = ((h2 >>> 27) | (h3 << 5)) & 511;
    for (let i = levels.length - 1; i >= 0; i--) {
      const { bits, mask } = levels[i]!;
      const base = (h1 & mask) << BLOCK_WORDS_LOG2;
      if ((bits[base + (b0 >>> 5)]! & (1 << (b0 & 31))) === 0) continue;
      if ((bits[base + (b1 >>> 5)]! & (1 << (b1 & 31))) === 0) continue;
      if ((bits[base + (b2 >>> 5)]! & (1 << (b2 & 31))) === 0) continue;
      if ((bits[base + (b3 >>> 5)]! & (1 << (b3 & 31))) !== 0) return true;
    }
    return false;
  }
}
