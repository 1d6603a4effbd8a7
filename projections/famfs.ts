/**
 * famfs: the devices of each famfs area, the allocator's free-space map, and each file's
 * extents. A deterministic function of the log like every projection, so every peer that
 * plays the same entries computes the same free map and the same extents.
 *
 *   famfs-devices       device uuid -> { area, size, time }
 *   famfs-area-devices  "<area>/<uuid>" -> size          (a famfs area's devices, uuid order)
 *   famfs-free          "<uuid>/<offset, 16 hex>" -> length   (free ranges, never adjacent)
 *   famfs-files         node id -> extents, in file order (adjacent ones coalesced)
 *
 * A device's first allocation unit holds its superblock; [UNIT, floor(size / UNIT) * UNIT)
 * is allocatable. Every extent is UNIT-aligned in offset and length.
 *
 * Applying is total and atomic per event: an allocation that names an unknown device, a
 * misaligned range, or space that is not free (another peer's concurrent allocation came
 * first in the one order) is refused whole and changes nothing; so is a free of space the
 * file does not hold. So two files never share a byte, whatever the log holds.
 */
import type { Database, Key, RootDatabase } from 'lmdb';
import { FAMFS_ALLOC_UNIT, type Extent, type FsEvent, type NodeId } from '../log/index.js';
import { CachedDb } from './cached-db.js';
import type { ApplyContext, Projection } from './projection.js';

export const FAMFS_UNIT = FAMFS_ALLOC_UNIT;

export interface FamfsDeviceRow {
  readonly area: string;
  readonly size: number;
  readonly time: number;
}

export interface FreeRange {
  readonly offset: number;
  readonly length: number;
}

/** The allocatable range of a device of `size` bytes: [UNIT, end). */
export function deviceSpan(size: number): { start: number; end: number } {
  return { start: FAMFS_UNIT, end: Math.floor(size / FAMFS_UNIT) * FAMFS_UNIT };
}

function freeKey(device: string, offset: number): string {
  return `${device}/${offset.toString(16).padStart(16, '0')}`;
}

function parseFreeKey(key: string): { device: string; offset: number } {
  const slash = key.indexOf('/');
  return { device: key.slice(0, slash), offset: Number.parseInt(key.slice(slash + 1), 16) };
}

/** Rounds a byte count up to whole allocation units. */
export function unitsFor(bytes: number): number {
  return Math.ceil(bytes / FAMFS_UNIT) * FAMFS_UNIT;
}

/** Appends `e` to `list`, merging it into the last extent when it continues it on the same device. */
function pushCoalesced(list: Extent[], e: Extent): void {
  const last = list[list.length - 1];
  if (last !== undefined && last.device === e.device && last.offset + last.length === e.offset) {
    list[list.length - 1] = { device: last.device, offset: last.offset, length: last.length + e.length };
  } else list.push({ device: e.device, offset: e.offset, length: e.length });
}

export class Famfs implements Projection {
  readonly name = 'famfs';
  readonly local = false;
  get caches(): ReadonlyArray<CachedDb<never, never>> {
    return [this.#devices, this.#areaDevices, this.#free, this.#files] as unknown as ReadonlyArray<CachedDb<never, never>>;
  }
  get dbs(): ReadonlyArray<readonly [string, Database<unknown, Key>]> {
    return [
      ['famfs-devices', this.#devices.db as Database<unknown, Key>],
      ['famfs-area-devices', this.#areaDevices.db as Database<unknown, Key>],
      ['famfs-free', this.#free.db as Database<unknown, Key>],
      ['famfs-files', this.#files.db as Database<unknown, Key>],
    ];
  }
  readonly #devices: CachedDb<FamfsDeviceRow, string>;
  readonly #areaDevices: CachedDb<number, string>;
  readonly #free: CachedDb<number, string>;
  readonly #files: CachedDb<Extent[], string>;

  constructor(env: RootDatabase) {
    this.#devices = new CachedDb(env.openDB({ name: 'famfs-devices' }));
    this.#areaDevices = new CachedDb(env.openDB({ name: 'famfs-area-devices' }));
    this.#free = new CachedDb(env.openDB({ name: 'famfs-free' }));
    this.#files = new CachedDb(env.openDB({ name: 'famfs-files' }));
  }

  // ---- queries ----

  device(uuid: string): FamfsDeviceRow | undefined {
    return this.#devices.get(uuid);
  }

  /** Every known device, in uuid order. */
  *devices(): Generator<FamfsDeviceRow & { readonly uuid: string }> {
    for (const { key, value } of this.#devices.getRange()) yield { uuid: key, ...value };
  }

  /** The devices of an area, in uuid order (the allocator's order). */
  *areaDevices(area: string): Generator<{ uuid: string; size: number }> {
    const prefix = `${area}/`;
    for (const { key, value } of this.#areaDevices.getRange({ start: prefix, end: `${area}0` })) yield { uuid: key.slice(prefix.length), size: value };
  }

  /** An area is a famfs area once it has a device. */
  isFamfsArea(area: string): boolean {
    for (const _ of this.areaDevices(area)) return true;
    return false;
  }

  /** A file's extents in file order (undefined when it has none). */
  extents(id: NodeId): readonly Extent[] | undefined {
    return this.#files.get(id);
  }

  /** Every file holding extents. */
  *files(): Generator<[NodeId, readonly Extent[]]> {
    for (const { key, value } of this.#files.getRange()) yield [key, value];
  }

  /** The free ranges of a device, in offset order. */
  *freeRanges(device: string): Generator<FreeRange> {
    for (const { key, value } of this.#free.getRange({ start: `${device}/`, end: `${device}0` })) yield { offset: parseFreeKey(key).offset, length: value };
  }

  /** Free bytes of a device. */
  freeBytes(device: string): number {
    let n = 0;
    for (const r of this.freeRanges(device)) n += r.length;
    return n;
  }

  /**
   * The deterministic allocator: extents holding `bytes` (rounded up to whole units) taken
   * first-fit from the area's devices in uuid order, each device's free ranges in offset
   * order. Null when the area has too little free space. Pure: the caller logs the result
   * as a famfs-alloc event, and applying that event carves it out of the free map.
   */
  plan(area: string, bytes: number): Extent[] | null {
    let want = unitsFor(bytes);
    const out: Extent[] = [];
    if (want === 0) return out;
    for (const dev of this.areaDevices(area)) {
      for (const r of this.freeRanges(dev.uuid)) {
        const take = Math.min(want, r.length);
        pushCoalesced(out, { device: dev.uuid, offset: r.offset, length: take });
        want -= take;
        if (want === 0) return out;
      }
    }
    return null;
  }

  // ---- apply ----

  apply(event: FsEvent, _ctx: ApplyContext): void {
    switch (event.type) {
      case 'famfs-device': {
        if (this.#devices.get(event.device) !== undefined) return;
        const { start, end } = deviceSpan(event.size);
        this.#devices.put(event.device, { area: event.area, size: event.size, time: event.time });
        this.#areaDevices.put(`${event.area}/${event.device}`, event.size);
        if (end > start) this.#free.put(freeKey(event.device, start), end - start);
        return;
      }
      case 'famfs-alloc': {
        if (!this.#canAllocate(event.extents)) return;
        const list = [...(this.#files.get(event.id) ?? [])];
        for (const e of event.extents) {
          this.#carve(e);
          pushCoalesced(list, e);
        }
        this.#files.put(event.id, list);
        return;
      }
      case 'famfs-free': {
        const held = this.#files.get(event.id);
        if (held === undefined) return;
        let list: Extent[] = [...held];
        for (const e of event.extents) {
          const next = removeFrom(list, e);
          if (next === null) return; // the file does not hold all of it: refused whole
          list = next;
        }
        for (const e of event.extents) this.#release(e);
        if (list.length === 0) this.#files.remove(event.id);
        else this.#files.put(event.id, list);
        return;
      }
      case 'area-create':
      case 'create':
      case 'mkdir':
      case 'symlink':
      case 'link':
      case 'write':
      case 'truncate':
      case 'commit':
      case 'rename':
      case 'unlink':
      case 'rmdir':
      case 'setattr':
      case 'setxattr':
      case 'removexattr':
      case 'peer-add':
      case 'peer-remove':
      case 'placement':
        return;
      default: {
        const never: never = event;
        throw new Error(`unhandled event ${String((never as FsEvent).type)}`);
      }
    }
  }

  /** The free range holding byte `offset` of `device`, if any. */
  #freeAt(device: string, offset: number): FreeRange | undefined {
    for (const { key, value } of this.#free.getRange({ start: freeKey(device, offset), end: `${device}/`, reverse: true, limit: 1 })) {
      const k = parseFreeKey(key);
      if (k.device !== device) return undefined;
      return k.offset + value > offset ? { offset: k.offset, length: value } : undefined;
    }
    return undefined;
  }

  #canAllocate(extents: readonly Extent[]): boolean {
    const sorted = [...extents].sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : a.offset - b.offset));
    for (let i = 0; i < sorted.length; i++) {
      const e = sorted[i]!;
      const dev = this.#devices.get(e.device);
      if (dev === undefined) return false;
      if (e.offset % FAMFS_UNIT !== 0 || e.length % FAMFS_UNIT !== 0 || e.length === 0) return false;
      const prev = sorted[i - 1];
      if (prev !== undefined && prev.device === e.device && prev.offset + prev.length > e.offset) return false;
      const r = this.#freeAt(e.device, e.offset);
      if (r === undefined || r.offset + r.length < e.offset + e.length) return false;
    }
    return true;
  }

  /** Takes [offset, offset + length) out of the free range that holds it (checked before). */
  #carve(e: Extent): void {
    const r = this.#freeAt(e.device, e.offset)!;
    this.#free.remove(freeKey(e.device, r.offset));
    if (e.offset > r.offset) this.#free.put(freeKey(e.device, r.offset), e.offset - r.offset);
    const end = e.offset + e.length;
    const rEnd = r.offset + r.length;
    if (end < rEnd) this.#free.put(freeKey(e.device, end), rEnd - end);
  }

  /** Returns a range to the free map, merged with the free ranges it touches. */
  #release(e: Extent): void {
    let offset = e.offset;
    let length = e.length;
    const before = offset > 0 ? this.#freeAt(e.device, offset - 1) : undefined;
    if (before !== undefined && before.offset + before.length === offset) {
      this.#free.remove(freeKey(e.device, before.offset));
      offset = before.offset;
      length += before.length;
    }
    const afterKey = freeKey(e.device, e.offset + e.length);
    const after = this.#free.get(afterKey);
    if (after !== undefined) {
      this.#free.remove(afterKey);
      length += after;
    }
    this.#free.put(freeKey(e.device, offset), length);
  }
}

/** `list` without the bytes of `e`, or null when `e` is not wholly inside one of its extents. */
function removeFrom(list: readonly Extent[], e: Extent): Extent[] | null {
  const i = list.findIndex((x) => x.device === e.device && x.offset <= e.offset && x.offset + x.length >= e.offset + e.length);
  if (i < 0) return null;
  const x = list[i]!;
  const pieces: Extent[] = [];
  if (e.offset > x.offset) pieces.push({ device: x.device, offset: x.offset, length: e.offset - x.offset });
  if (x.offset + x.length > e.offset + e.length) pieces.push({ device: x.device, offset: e.offset + e.length, length: x.offset + x.length - (e.offset + e.length) });
  return [...list.slice(0, i), ...pieces, ...list.slice(i + 1)];
}
