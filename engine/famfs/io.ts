/**
 * Data of famfs files: written straight into the device at the file's extents, and read
 * straight from them. A file is a famfs file when its area is a famfs area (a famfs-device
 * event added a device to it) and it holds extents, or is still empty: the first write to
 * an empty file of a famfs area allocates. Files that got block-store content before the
 * area became famfs keep it (they are read and written as before).
 *
 * A write: (1) allocate what the new size needs, as a famfs-alloc event chosen by the
 * deterministic allocator (projections/famfs.ts); (2) write the bytes at the extents with
 * positioned writes, zero-filling any gap past the old end; (3) fdatasync the device; (4) log
 * a write event with the hashes of the 128 KiB blocks touched, so the content hash and
 * version of a famfs file mean what they mean for every file. A truncate logs the truncate,
 * then frees whole units past the new end. Removing a file's last link frees its extents.
 */
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { BLOCK_SIZE, type Extent, type NodeId } from '../../log/index.js';
import { unitsFor } from '../../projections/index.js';
import { readSuperblock, DeviceRegistry } from './device.js';
import { EngineError } from '../engine-error.js';
import type { Engine } from '../engine.js';
import { KeyedMutex } from '../keyed-mutex.js';

const ZERO_CHUNK = Buffer.alloc(1024 * 1024);

function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest());
}

/** Where file bytes [offset, offset + length) lie: pieces of extents, in order. */
export function mapRange(extents: readonly Extent[], offset: number, length: number): Array<{ device: string; at: number; length: number; fileOffset: number }> {
  const out: Array<{ device: string; at: number; length: number; fileOffset: number }> = [];
  let base = 0;
  const end = offset + length;
  for (const e of extents) {
    const eEnd = base + e.length;
    if (eEnd > offset && base < end) {
      const from = Math.max(offset, base);
      const to = Math.min(end, eEnd);
      out.push({ device: e.device, at: e.offset + (from - base), length: to - from, fileOffset: from });
    }
    base = eEnd;
    if (base >= end) break;
  }
  return out;
}

export function allocatedBytes(extents: readonly Extent[] | undefined): number {
  let n = 0;
  for (const e of extents ?? []) n += e.length;
  return n;
}

export class FamfsIo {
  readonly engine: Engine;
  readonly registry: DeviceRegistry;
  readonly #handles = new Map<string, Promise<FileHandle>>();
  readonly #mutex = new KeyedMutex();

  constructor(engine: Engine, registry = new DeviceRegistry(engine.store.layout.root)) {
    this.engine = engine;
    this.registry = registry;
  }

  /** True when the file's bytes live on a famfs device (see the file comment). */
  isFamfs(id: NodeId): boolean {
    const p = this.engine.projections;
    const node = p.tree.node(id);
    if (node === undefined || node.kind !== 'file') return false;
    if (p.famfs.extents(id) !== undefined) return true;
    if (!p.famfs.isFamfsArea(node.area)) return false;
    return (p.content.row(id)?.size ?? 0) === 0;
  }

  /** The open device, checked against its superblock the first time. */
  device(uuid: string): Promise<FileHandle> {
    let h = this.#handles.get(uuid);
    if (h === undefined) {
      h = (async () => {
        const path = await this.registry.path(uuid);
        if (path === undefined) throw new EngineError('NOT_FOUND', `famfs device ${uuid} is not known on this peer (add it with \`realize famfs add AREA DEVICE\`)`);
        const sb = await readSuperblock(path);
        if (sb.uuid !== uuid) throw new EngineError('INVALID', `${path} holds famfs device ${sb.uuid}, not ${uuid}`);
        return open(path, 'r+');
      })();
      h.catch(() => this.#handles.delete(uuid));
      this.#handles.set(uuid, h);
    }
    return h;
  }

  /** Bytes [offset, offset + length) of a famfs file (short at its end). */
  async read(id: NodeId, offset: number, length: number): Promise<Buffer> {
    const size = this.engine.projections.content.row(id)?.size ?? 0;
    const end = Math.min(size, offset + length);
    if (end <= offset) return Buffer.alloc(0);
    const out = Buffer.alloc(end - offset);
    await this.#readInto(id, out, offset);
    return out;
  }

  async #readInto(id: NodeId, out: Buffer, offset: number): Promise<void> {
    const extents = this.engine.projections.famfs.extents(id) ?? [];
    const pieces = mapRange(extents, offset, out.byteLength);
    let covered = 0;
    await Promise.all(
      pieces.map(async (p) => {
        covered += p.length;
        const fh = await this.device(p.device);
        let got = 0;
        while (got < p.length) {
          const { bytesRead } = await fh.read(out, p.fileOffset - offset + got, p.length - got, p.at + got);
          if (bytesRead === 0) throw new EngineError('IO', `famfs device ${p.device} ends before offset ${p.at + got}`);
          got += bytesRead;
        }
      }),
    );
    if (covered < out.byteLength) throw new EngineError('IO', `famfs file ${id} has ${allocatedBytes(extents)} bytes allocated, fewer than its size`);
  }

  async #writeAt(id: NodeId, data: Uint8Array, offset: number): Promise<Set<string>> {
    const pieces = mapRange(this.engine.projections.famfs.extents(id) ?? [], offset, data.byteLength);
    const touched = new Set<string>();
    for (const p of pieces) {
      const fh = await this.device(p.device);
      let put = 0;
      while (put < p.length) {
        const { bytesWritten } = await fh.write(data, p.fileOffset - offset + put, p.length - put, p.at + put);
        put += bytesWritten;
      }
      touched.add(p.device);
    }
    return touched;
  }

  async #sync(devices: Set<string>): Promise<void> {
    for (const d of devices) await (await this.device(d)).datasync();
  }

  /** Makes sure the file holds extents for `size` bytes (a famfs-alloc event when it needs more). */
  async #reserve(id: NodeId, area: string, size: number): Promise<void> {
    const have = allocatedBytes(this.engine.projections.famfs.extents(id));
    const need = unitsFor(size);
    if (need <= have) return;
    const extents = this.engine.projections.famfs.plan(area, need - have);
    if (extents === null) throw new EngineError('NO_SPACE', `famfs area ${area} has no room for ${need - have} more bytes`);
    await this.engine.appendEvents(area, [{ type: 'famfs-alloc', id, extents, time: this.engine.env.now() }]);
    if (allocatedBytes(this.engine.projections.famfs.extents(id)) < need) throw new EngineError('IO', `famfs allocation for ${id} was refused`);
  }

  #file(id: NodeId): { area: string; size: number; blocks: Uint8Array } {
    const node = this.engine.projections.tree.node(id);
    const row = this.engine.projections.content.row(id);
    if (node === undefined || row === undefined) throw new EngineError('NOT_FOUND', `no such file: ${id}`);
    return { area: node.area, size: row.size, blocks: row.blocks };
  }

  /** Writes `data` at `offset`: straight into the device, then one write event. */
  async write(id: NodeId, offset: number, data: Uint8Array): Promise<void> {
    if (data.byteLength === 0) return;
    await this.#mutex.run(id, async () => {
      const f = this.#file(id);
      const end = offset + data.byteLength;
      const size = Math.max(f.size, end);
      await this.#reserve(id, f.area, size);
      const touched = new Set<string>();
      // A gap between the old end and the write reads as zeros: the device may hold old bytes there.
      if (offset > f.size) for (const d of await this.#zero(id, f.size, offset)) touched.add(d);
      for (const d of await this.#writeAt(id, data, offset)) touched.add(d);
      await this.#sync(touched);
      // Hash every block the write (and the gap) changed, from the device.
      const first = Math.floor(Math.min(offset, f.size) / BLOCK_SIZE);
      const last = Math.floor((end - 1) / BLOCK_SIZE);
      const blocks: Array<readonly [number, Uint8Array]> = [];
      for (let i = first; i <= last; i++) {
        const start = i * BLOCK_SIZE;
        const buf = Buffer.alloc(Math.min(BLOCK_SIZE, size - start));
        await this.#readInto(id, buf, start);
        blocks.push([i, sha256(buf)] as const);
      }
      await this.engine.run({ type: 'write', id, size, blocks });
    });
  }

  /**
   * Whole blocks [index, content] of a file's new branch of `size` bytes (what the write
   * cache flushes): straight into the device, then the write event, applied at once and
   * durable in the next group commit, as the write cache's own submit is.
   */
  async writeBlocks(id: NodeId, size: number, blocks: ReadonlyArray<readonly [number, Uint8Array]>): Promise<{ durable: Promise<unknown> }> {
    return this.#mutex.run(id, async () => {
      const f = this.#file(id);
      await this.#reserve(id, f.area, size);
      const touched = size > f.size ? await this.#zero(id, f.size, size) : new Set<string>();
      for (const [i, content] of blocks) for (const d of await this.#writeAt(id, content, i * BLOCK_SIZE)) touched.add(d);
      await this.#sync(touched);
      const { durable } = await this.engine.submit({ type: 'write', id, size, blocks: blocks.map(([i, c]) => [i, sha256(c)] as const) });
      return { durable };
    });
  }

  async #zero(id: NodeId, from: number, to: number): Promise<Set<string>> {
    const touched = new Set<string>();
    for (let at = from; at < to; at += ZERO_CHUNK.byteLength) {
      for (const d of await this.#writeAt(id, ZERO_CHUNK.subarray(0, Math.min(ZERO_CHUNK.byteLength, to - at)), at)) touched.add(d);
    }
    return touched;
  }

  /** Sets the size: growing allocates and zero-fills; shrinking frees whole units past the end. */
  async truncate(id: NodeId, size: number): Promise<void> {
    await this.#mutex.run(id, async () => {
      const f = this.#file(id);
      if (size > f.size) {
        await this.#reserve(id, f.area, size);
        await this.#sync(await this.#zero(id, f.size, size));
        await this.engine.run({ type: 'truncate', id, size, tail: null });
        return;
      }
      let tail: Uint8Array | null = null;
      const inBlock = size % BLOCK_SIZE;
      if (size < f.size && inBlock !== 0) {
        const buf = Buffer.alloc(inBlock);
        await this.#readInto(id, buf, size - inBlock);
        tail = sha256(buf);
      }
      await this.engine.run({ type: 'truncate', id, size, tail });
      await this.#freeFrom(id, f.area, unitsFor(size));
    });
  }

  /** Frees the file's extents past byte `keep` (a multiple of the unit). */
  async #freeFrom(id: NodeId, area: string, keep: number): Promise<void> {
    const extents = this.engine.projections.famfs.extents(id);
    if (extents === undefined) return;
    const free: Extent[] = [];
    let base = 0;
    for (const e of extents) {
      if (base + e.length > keep) {
        const cut = Math.max(0, keep - base);
        free.push({ device: e.device, offset: e.offset + cut, length: e.length - cut });
      }
      base += e.length;
    }
    if (free.length > 0) await this.engine.appendEvents(area, [{ type: 'famfs-free', id, extents: free, time: this.engine.env.now() }]);
  }

  /** Frees every extent of a file that has no name left (its last link went). */
  async releaseIfGone(id: NodeId): Promise<boolean> {
    const node = this.engine.projections.tree.node(id);
    if (node === undefined || node.nlink > 0 || this.engine.projections.famfs.extents(id) === undefined) return false;
    await this.#mutex.run(id, () => this.#freeFrom(id, node.area, 0));
    return true;
  }

  async close(): Promise<void> {
    const hs = [...this.#handles.values()];
    this.#handles.clear();
    for (const h of hs) await h.then((fh) => fh.close(), () => undefined);
  }
}
