/**
 * `realize famfs fsck`: every extent lies inside its device's allocatable space, none
 * overlaps another (held or free), every file holds space for its size, and each device
 * this peer knows carries the superblock the log names. Reads the projections and the
 * superblocks only.
 */
import { stat } from 'node:fs/promises';
import { deviceSpan, FAMFS_UNIT } from '../../projections/index.js';
import type { Engine } from '../engine.js';
import { DeviceRegistry, readSuperblock, uuidString } from './device.js';
import { allocatedBytes } from './io.js';

export interface FsckProblem {
  readonly severity: 'error' | 'warning';
  readonly what: string;
}

export interface FsckResult {
  readonly devices: number;
  readonly files: number;
  readonly extents: number;
  readonly allocated: number;
  readonly free: number;
  readonly problems: readonly FsckProblem[];
  readonly ok: boolean;
}

interface Span {
  readonly start: number;
  readonly end: number;
  readonly owner: string;
}

export async function famfsFsck(engine: Engine, registry = new DeviceRegistry(engine.store.layout.root)): Promise<FsckResult> {
  const p = engine.projections;
  const problems: FsckProblem[] = [];
  const error = (what: string): void => void problems.push({ severity: 'error', what });
  const warn = (what: string): void => void problems.push({ severity: 'warning', what });
  const spans = new Map<string, Span[]>();
  const sizes = new Map<string, number>();
  let devices = 0;
  let files = 0;
  let extents = 0;
  let allocated = 0;
  let free = 0;

  for (const d of p.famfs.devices()) {
    devices++;
    sizes.set(d.uuid, d.size);
    spans.set(d.uuid, []);
    const path = await registry.path(d.uuid);
    if (path === undefined) {
      warn(`device ${uuidString(d.uuid)} (area ${d.area}) is not known on this peer: its superblock is not checked`);
      continue;
    }
    try {
      const sb = await readSuperblock(path);
      if (sb.uuid !== d.uuid) error(`${path} holds device ${uuidString(sb.uuid)}, but this peer lists it as ${uuidString(d.uuid)}`);
      const st = await stat(path);
      const actual = st.isFile() ? st.size : sb.size;
      if (actual < deviceSpan(d.size).end) error(`device ${uuidString(d.uuid)} at ${path} holds ${actual} bytes, fewer than the ${d.size} the log gives it`);
    } catch (err) {
      error(`device ${uuidString(d.uuid)} at ${path}: ${(err as Error).message}`);
    }
  }

  const add = (device: string, start: number, length: number, owner: string): void => {
    const size = sizes.get(device);
    if (size === undefined) {
      error(`${owner}: extent on unknown device ${device}`);
      return;
    }
    const { start: lo, end: hi } = deviceSpan(size);
    if (start % FAMFS_UNIT !== 0 || length % FAMFS_UNIT !== 0) error(`${owner}: extent [${start}, +${length}) on ${uuidString(device)} is not aligned to ${FAMFS_UNIT}`);
    if (start < lo || start + length > hi) error(`${owner}: extent [${start}, +${length}) lies outside device ${uuidString(device)} (allocatable [${lo}, ${hi}))`);
    spans.get(device)!.push({ start, end: start + length, owner });
  };

  for (const [id, list] of p.famfs.files()) {
    files++;
    for (const e of list) {
      extents++;
      allocated += e.length;
      add(e.device, e.offset, e.length, `file ${id}`);
    }
    const node = p.tree.node(id);
    const size = p.content.row(id)?.size ?? 0;
    if (node === undefined || node.nlink === 0) warn(`file ${id} has no name left but still holds ${allocatedBytes(list)} bytes of extents`);
    if (allocatedBytes(list) < size) error(`file ${id} is ${size} bytes but holds only ${allocatedBytes(list)} bytes of extents`);
  }
  for (const uuid of sizes.keys()) {
    for (const r of p.famfs.freeRanges(uuid)) {
      free += r.length;
      add(uuid, r.offset, r.length, 'free space');
    }
  }
  for (const [uuid, list] of spans) {
    list.sort((a, b) => a.start - b.start);
    let covered = 0;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      covered += s.end - s.start;
      const next = list[i + 1];
      if (next !== undefined && next.start < s.end) error(`overlap on device ${uuidString(uuid)}: ${s.owner} [${s.start}, ${s.end}) and ${next.owner} [${next.start}, ${next.end})`);
    }
    const { start, end } = deviceSpan(sizes.get(uuid)!);
    if (covered !== end - start) warn(`device ${uuidString(uuid)}: ${end - start - covered} bytes are neither free nor held by a file`);
  }
  return { devices, files, extents, allocated, free, problems, ok: problems.every((x) => x.severity !== 'error') };
}
