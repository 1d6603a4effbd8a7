/**
 * Row keys led by a node id as bytes: most current rows are keyed by an id of 32 hex digits
 * (alone, or followed by `/name` or `\0position`), which lmdb-js's default encoding stores as
 * 32 bytes. This lmdb-js key encoder stores such a key as a tag byte, the id's 16 bytes and
 * the rest in UTF-8 (17 bytes for a bare id), and any other string as another tag and its
 * UTF-8. Keys led by an id keep their order among themselves (hex digits sort as their
 * nibbles), and so do the others; every text key sorts before every id-led key, which no
 * range read relies on (a range is one id's rows, or text keys only).
 *
 * Tags start above lmdb-js's default first key (the byte 5, written raw), so a range read
 * without a start sees every row.
 */

/** Nibble values of '0'-'9' and 'a'-'f' (lower case only: an upper-case id stays text), else -1. */
const NIBBLE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) NIBBLE[48 + i] = i;
for (let i = 0; i < 6; i++) NIBBLE[97 + i] = 10 + i;

const TAG_TEXT = 0x10;
const TAG_ID = 0x11;
const TAG_INO = 0x12;

/**
 * A row key led by a node's local inode number (inode-table.ts keyOf) instead of its id: the
 * character U+0001, the number mixed (a bijection of 32 bits: murmur3's finalizer) as 8 hex
 * digits, and `:GEN` when its generation is not 0. Stored as a tag byte, those 4 bytes and the
 * rest in UTF-8: 5 bytes where an id takes 17. Mixed so that new nodes' rows land anywhere in
 * the tree, as random ids did: numbers are handed out in arrival order, and rows appended in
 * that order fill their pages to the brim, which every later growth of a row (its list of
 * changes) splits in half (the 1M-event bench: node records and branches 53-55% full against
 * 67-68% with ids); the numbers' bits reversed spread them evenly instead, so every page
 * filled and split at once (49-59%).
 */
export const INO_LEAD = '\u0001';

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));
/** The key of inode `ino` (generation `gen`). */
export function inodeKey(ino: number, gen: number): string {
  let h = ino >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  h >>>= 0;
  // Two digits at a time from a table: Number's toString(16) goes through fmod per digit.
  const hex = HEX[h >>> 24]! + HEX[(h >>> 16) & 255]! + HEX[(h >>> 8) & 255]! + HEX[h & 255]!;
  return gen === 0 ? INO_LEAD + hex : `${INO_LEAD}${hex}:${gen}`;
}

/** How many characters of `key` name the inode (0: the key is not led by one). */
export function inodeKeyLength(key: string): number {
  if (key.charCodeAt(0) !== 1 || key.length < 9) return 0;
  let end = 9;
  if (key.charCodeAt(9) === 58) {
    end = 10;
    while (end < key.length && key.charCodeAt(end) >= 48 && key.charCodeAt(end) <= 57) end++;
  }
  return end;
}

/** The 4 bytes of an inode-led key (8 lower-case hex digits at 1), or -1. */
function inoOf(key: string): number {
  if (key.length < 9 || key.charCodeAt(0) !== 1) return -1;
  let v = 0;
  for (let i = 1; i < 9; i++) {
    const d = NIBBLE[key.charCodeAt(i)] ?? -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}



function writeUtf8(key: string, from: number, target: Uint8Array, at: number): number {
  for (let i = from; i < key.length; i++) {
    let c = key.charCodeAt(i);
    if (c < 0x80) target[at++] = c;
    else if (c < 0x800) {
      target[at++] = (c >> 6) | 0xc0;
      target[at++] = (c & 0x3f) | 0x80;
    } else {
      if ((c & 0xfc00) === 0xd800 && i + 1 < key.length && (key.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c & 0x03ff) << 10) + (key.charCodeAt(++i) & 0x03ff);
        target[at++] = (c >> 18) | 0xf0;
        target[at++] = ((c >> 12) & 0x3f) | 0x80;
      } else target[at++] = (c >> 12) | 0xe0;
      target[at++] = ((c >> 6) & 0x3f) | 0x80;
      target[at++] = (c & 0x3f) | 0x80;
    }
  }
  return at;
}

/** Writes `key` at `start` of `target`; returns where it ends. */
function writeKey(key: unknown, target: Uint8Array, start: number): number {
  if (typeof key !== 'string') {
    // lmdb-js's own first key for ranges without a start (the byte 5).
    if (key instanceof Uint8Array) {
      target.set(key, start);
      return start + key.byteLength;
    }
    throw new Error(`row keys are strings, not ${typeof key}`);
  }
  if (key.charCodeAt(0) === 1) {
    const ino = inoOf(key);
    if (ino >= 0) {
      target[start] = TAG_INO;
      target[start + 1] = ino >>> 24;
      target[start + 2] = (ino >>> 16) & 255;
      target[start + 3] = (ino >>> 8) & 255;
      target[start + 4] = ino & 255;
      return writeUtf8(key, 9, target, start + 5);
    }
  }
  if (key.length >= 32) {
    let at = start + 1;
    let i = 0;
    for (; i < 32; i += 2) {
      const hi = NIBBLE[key.charCodeAt(i)] ?? -1;
      const lo = NIBBLE[key.charCodeAt(i + 1)] ?? -1;
      if (hi < 0 || lo < 0) break;
      target[at++] = (hi << 4) | lo;
    }
    if (i === 32) {
      target[start] = TAG_ID;
      return writeUtf8(key, 32, target, at);
    }
  }
  target[start] = TAG_TEXT;
  return writeUtf8(key, 0, target, start + 1);
}

function readKey(buf: Uint8Array, start: number, end: number): string {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b[start] === TAG_ID) {
    let id = '';
    for (let i = start + 1; i < start + 17; i++) id += HEX[b[i]!];
    return end > start + 17 ? id + b.toString('utf8', start + 17, end) : id;
  }
  if (b[start] === TAG_INO) {
    const key = `${INO_LEAD}${b.toString('hex', start + 1, start + 5)}`;
    return end > start + 5 ? key + b.toString('utf8', start + 5, end) : key;
  }
  return b.toString('utf8', start + 1, end);
}

/** The lmdb-js `keyEncoder` of sub-databases whose keys are mostly led by node ids. */
export const idKeys = { writeKey, readKey } as const;

/** openDB options for such a sub-database. */
export const idKeyOptions = { keyEncoder: idKeys } as object;
