/**
 * `realize import SRC [DEST]`: a plain directory into the store (the fuse-zstd seed's
 * "convert mode"), keeping modes, owners, times, symlinks and hard links. The copy lands
 * like `cp -a`: at DEST when DEST does not exist, inside DEST when it is a directory.
 * The new subtree is built directly as events (its ids are fresh, so nothing else can
 * touch it yet), in entries of up to ~2,000 events; blocks are made durable before the
 * entry that names them.
 */
import { lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { BLOCK_SIZE, nameProblem, type FsEvent, type NodeId } from '../log/index.js';
import { blockBuffers } from './block-store.js';
import { EngineError } from './engine-error.js';
import type { Engine } from './engine.js';
import { parentAndName, splitPath } from './fs-path.js';
import { resolve, resolveMaybe } from './tree-view.js';

export interface ImportProgress {
  readonly files: number;
  readonly dirs: number;
  readonly bytes: number;
}

export interface ImportResult extends ImportProgress {
  readonly dest: string;
  readonly symlinks: number;
  readonly skipped: readonly string[];
}

const EVENTS_PER_ENTRY = 2000;
const READ_CHUNK = 8 * BLOCK_SIZE;
const PARALLEL_FILES = 8;
/**
 * Entries appended and not yet durable that the walk may run ahead of; past it, it waits for
 * the oldest. The group commit keeps up at about 2-3 here; the bound holds memory flat on a
 * disk that does not.
 */
const ENTRIES_IN_FLIGHT = 4;

interface Chunk {
  /** Bytes asked for: one more than the file was said to hold past `offset` (to see growth), at most READ_CHUNK. */
  readonly want: number;
  readonly got: number;
  /** The bytes read, cut at block boundaries. */
  readonly pieces: Uint8Array[];
  /** The pieces are views of pool buffers, handed to the block store (putMany `owned`). */
  readonly owned: boolean;
  /** A pool buffer the pieces are views of, lent for the read only: given back once they are stored (copied). */
  readonly scratch: Buffer | null;
}

/**
 * Reads up to READ_CHUNK bytes at `offset`. Whole blocks are read into the pool buffers the
 * block store keeps as record payloads (no copy); a file smaller than a block is read into a
 * pool buffer lent for the read (the store copies it into a record of its own size: thousands
 * of small records would otherwise pin a 128 KiB buffer each), so that small files make no
 * garbage buffer each, whose native memory would wait for a collection.
 */
async function readChunk(fh: FileHandle, offset: number, size: number): Promise<Chunk> {
  const want = Math.max(1, Math.min(READ_CHUNK, size - offset + 1));
  const owned = want > BLOCK_SIZE;
  const bufs: Buffer[] = [];
  if (owned) {
    for (let at = 0; at < want; at += BLOCK_SIZE) bufs.push(blockBuffers.take().subarray(0, Math.min(BLOCK_SIZE, want - at)));
  } else {
    bufs.push(blockBuffers.take().subarray(0, want));
  }
  let got = 0;
  try {
    while (got < want) {
      // The rest of the buffers, from the first one not yet full.
      const k = Math.floor(got / BLOCK_SIZE);
      const rest = owned ? [bufs[k]!.subarray(got - k * BLOCK_SIZE), ...bufs.slice(k + 1)] : [bufs[0]!.subarray(got)];
      const { bytesRead } = await fh.readv(rest, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
  } catch (err) {
    for (const b of bufs) blockBuffers.give(b);
    throw err;
  }
  const pieces: Uint8Array[] = [];
  if (owned) {
    for (let k = 0; k < bufs.length; k++) {
      const len = Math.min(BLOCK_SIZE, got - k * BLOCK_SIZE);
      if (len > 0) pieces.push(bufs[k]!.subarray(0, len));
      else blockBuffers.give(bufs[k]!);
    }
  } else if (got > 0) {
    pieces.push(bufs[0]!.subarray(0, got));
  }
  return { want, got, pieces, owned, scratch: owned ? null : bufs[0]! };
}

export async function importTree(
  engine: Engine,
  src: string,
  dest: string,
  opts: { compress?: boolean; onProgress?: (p: ImportProgress) => void } = {},
): Promise<ImportResult> {
  const top = await lstat(src).catch((err: NodeJS.ErrnoException) => {
    throw new EngineError('NOT_FOUND', `cannot read ${src}: ${err.code ?? err.message}`);
  });
  const view = engine.view;
  let destParts = splitPath(dest);
  if (destParts.length === 0) throw new EngineError('INVALID', 'import into an area: DEST must be /AREA or a path inside one');
  // An area named by DEST is created when missing.
  if (view.areaRoot(destParts[0]!) === undefined) {
    await engine.run({ type: 'mkdir', path: `/${destParts[0]}`, mode: 0o755, owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 } });
  }
  const existing = resolveMaybe(view, destParts);
  if (existing !== undefined) {
    if (existing.node.kind !== 'dir') throw new EngineError('EXISTS', `${dest} exists and is not a directory`);
    const name = basename(src);
    if (nameProblem(name) !== null) throw new EngineError('INVALID', `cannot import ${src} under its own name`);
    destParts = [...destParts, name];
    if (view.child(existing.id, name) !== undefined) throw new EngineError('EXISTS', `${dest}/${name} exists`);
  }
  const { parent: parentParts, name: rootName } = parentAndName(`/${destParts.join('/')}`);
  const parent = resolve(view, parentParts);
  if (parent.node.kind !== 'dir') throw new EngineError('NOT_A_DIRECTORY', `/${parentParts.join('/')} is not a directory`);
  const area = parent.node.area;

  const state = { files: 0, dirs: 0, bytes: 0, symlinks: 0 };
  const skipped: string[] = [];
  let events: FsEvent[] = [];
  // Only the entries not yet durable are held (a durable promise resolves to its entry, and
  // all of them kept to the end would hold every event of the import); a failed one stays,
  // so the walk's next wait and the final one report it.
  const inFlight = new Set<Promise<void>>();
  const links = new Map<string, NodeId>();
  // Hard links are emitted after the walk: a later link can be met before its first name's
  // create is emitted (files of a group are read in parallel, subdirectories walked first).
  const linkEvents: FsEvent[] = [];
  const dirTimes: FsEvent[] = [];

  const flush = async (): Promise<void> => {
    if (events.length === 0) return;
    const batch = events;
    events = [];
    const durable: Promise<void> = engine.appendEvents(area, batch).then(() => {
      inFlight.delete(durable);
    });
    durable.catch(() => undefined); // reported by the waits below, not as an unhandled rejection
    inFlight.add(durable);
    while (inFlight.size >= ENTRIES_IN_FLIGHT) await Promise.race(inFlight);
    opts.onProgress?.({ files: state.files, dirs: state.dirs, bytes: state.bytes });
  };
  const emit = async (...evs: FsEvent[]): Promise<void> => {
    events.push(...evs);
    if (events.length >= EVENTS_PER_ENTRY) await flush();
  };
  const times = (id: NodeId, st: Stats, time: number): FsEvent => ({
    type: 'setattr', id, atime: Math.floor(st.atimeMs), mtime: Math.floor(st.mtimeMs), time,
  });

  const importFile = async (path: string, st: Stats, parentId: NodeId, name: string): Promise<FsEvent[]> => {
    const now = engine.env.now();
    const key = `${st.dev}:${st.ino}`;
    if (st.nlink > 1) {
      const first = links.get(key);
      if (first !== undefined) {
        linkEvents.push({ type: 'link', id: first, parent: parentId, name, time: now });
        return [];
      }
    }
    const id = engine.newId();
    if (st.nlink > 1) links.set(key, id);
    const out: FsEvent[] = [{ type: 'create', id, parent: parentId, name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, time: now }];
    const fh = await open(path, 'r');
    let next: Promise<Chunk> | null = null;
    try {
      let offset = 0;
      let blocks: Array<readonly [number, Uint8Array]> = [];
      // The next chunk is read while this one is hashed and stored.
      next = readChunk(fh, 0, st.size);
      for (;;) {
        const chunk: Chunk = await next!;
        next = null;
        if (chunk.got === 0) {
          if (chunk.scratch !== null) blockBuffers.give(chunk.scratch);
          break;
        }
        const more = chunk.got === chunk.want;
        if (more) next = readChunk(fh, offset + chunk.got, st.size);
        let hashes: Uint8Array[];
        try {
          hashes = await engine.blocks.putMany(chunk.pieces, { compress: opts.compress === true, owned: chunk.owned, split: true });
        } finally {
          if (chunk.scratch !== null) blockBuffers.give(chunk.scratch);
        }
        const firstIndex = offset / BLOCK_SIZE;
        hashes.forEach((h, k) => blocks.push([firstIndex + k, h] as const));
        offset += chunk.got;
        state.bytes += chunk.got;
        if (blocks.length >= 1024) {
          out.push({ type: 'write', id, size: offset, blocks, time: now });
          blocks = [];
        }
        if (!more) break;
      }
      if (blocks.length > 0) out.push({ type: 'write', id, size: offset, blocks, time: now });
    } finally {
      // A chunk read ahead and never stored (an error above) gives its buffers back.
      const left = next === null ? null : await next.catch(() => null);
      if (left?.owned) for (const p of left.pieces) blockBuffers.give(p);
      if (left?.scratch) blockBuffers.give(left.scratch);
      await fh.close();
    }
    out.push({ type: 'commit', id, time: now }, times(id, st, now));
    state.files++;
    return out;
  };

  const walk = async (path: string, st: Stats, parentId: NodeId, name: string): Promise<void> => {
    const now = engine.env.now();
    if (st.isDirectory()) {
      const id = engine.newId();
      await emit({ type: 'mkdir', id, parent: parentId, name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, time: now });
      state.dirs++;
      const children: Array<{ path: string; name: string }> = [];
      // Raw names: one that is not UTF-8 would come back altered (U+FFFD) and name nothing.
      for (const raw of await readdir(path, { encoding: 'buffer' })) {
        const childName = raw.toString('utf8');
        if (Buffer.from(childName, 'utf8').equals(raw)) children.push({ path: join(path, childName), name: childName });
        else skipped.push(`${join(path, childName)}: the name is not valid UTF-8 (bytes ${raw.toString('hex')})`);
      }
      children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (let i = 0; i < children.length; i += PARALLEL_FILES) {
        const group = children.slice(i, i + PARALLEL_FILES);
        const stats = await Promise.all(group.map((c) => lstat(c.path)));
        // Regular files of the group are read in parallel; their events keep the group's order.
        const files = await Promise.all(group.map((c, k) => (stats[k]!.isFile() && nameProblem(c.name) === null ? importFile(c.path, stats[k]!, id, c.name) : null)));
        for (let k = 0; k < group.length; k++) {
          const c = group[k]!;
          if (nameProblem(c.name) !== null) {
            skipped.push(`${c.path}: ${nameProblem(c.name)}`);
            continue;
          }
          const fileEvents = files[k];
          if (fileEvents) await emit(...fileEvents);
          else await walk(c.path, stats[k]!, id, c.name);
        }
      }
      dirTimes.push(times(id, st, now));
    } else if (st.isFile()) {
      await emit(...(await importFile(path, st, parentId, name)));
    } else if (st.isSymbolicLink()) {
      const id = engine.newId();
      await emit({ type: 'symlink', id, parent: parentId, name, target: await readlink(path), uid: st.uid, gid: st.gid, time: now }, times(id, st, now));
      state.symlinks++;
    } else {
      skipped.push(`${path}: not a regular file, directory or symbolic link`);
    }
  };

  // Blocks stored by the walk are named only when their entry is staged: gc waits meanwhile.
  await engine.gate.shared(async () => {
    await walk(src, top, parent.id, rootName);
    for (let i = 0; i < linkEvents.length; i += EVENTS_PER_ENTRY) await emit(...linkEvents.slice(i, i + EVENTS_PER_ENTRY));
    // Directory times last: creating their children moved them.
    for (let i = 0; i < dirTimes.length; i += EVENTS_PER_ENTRY) await emit(...dirTimes.slice(i, i + EVENTS_PER_ENTRY));
    await flush();
  });
  await Promise.all(inFlight);
  return { dest: `/${destParts.join('/')}`, files: state.files, dirs: state.dirs, bytes: state.bytes, symlinks: state.symlinks, skipped };
}
