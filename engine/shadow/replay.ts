/**
 * `realize log replay --shadow DIR` and `--into DIR`: the tree at a position of the log,
 * played into a plain directory. Directories are made as directories; with --shadow every
 * file and symlink becomes a YAML document of its metadata (engine/shadow-yaml.ts) and every
 * directory holds its own document, `.realize-dir.yaml`; with --into files get their real
 * content, modes, times (and owners, as root), symlinks are made as symlinks, hard links as
 * hard links.
 *
 * Streaming: the tree is walked depth first straight from the projections; only one
 * directory's entries (and the ids of hard-linked files, --into) are held at a time, so
 * memory does not grow with the log. --shadow renders each document straight from the
 * records (renderShadow) and hands it to a writer thread (doc-writer.ts) that writes batches
 * with synchronous calls, a bounded number of batches in flight; directories are made here,
 * before anything inside them is queued. --into writes files concurrently, a bounded number
 * at once. Nothing is fsynced: the replay is a view of the log, not a copy of record, and a
 * later --shadow replay compares every document and rewrites what a crash lost.
 *
 * Incremental and idempotent: a replay over an earlier one compares as it walks. --shadow
 * renders every document and rewrites only those whose bytes differ; --into skips files
 * whose size, mtime, mode (and owner) match unless the log says they changed since the
 * position the state file records (a move of a directory marks its whole subtree). What is
 * on disk and not in the tree is removed. DIR/.realize-shadow.json records the mode and the
 * position replayed. The result equals a fresh replay into an empty directory.
 *
 * Safety: nothing is ever written outside DIR. Names come from the log (validated when
 * logged) and are checked again here: one that could not be a directory entry (empty, ".",
 * "..", holding "/" or NUL, too long) is reported and skipped, as is a node missing from the
 * tree or a directory that would make a cycle. Nothing in DIR is ever followed: files are
 * opened with O_NOFOLLOW and replaced by rename, directories are checked with lstat and a
 * symlink (or file) where a directory belongs is removed (unlink does not follow) and
 * replaced, and symlink targets are never resolved (YAML in --shadow, symlink(2) in --into).
 */
import { constants, type Dirent as FsDirent } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rename, rm, symlink, link, unlink, lutimes, lchown } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { nameProblem, validAreaName, type NodeId } from '../../log/index.js';
import type { NodeRecord } from '../../projections/index.js';
import { EngineError } from '../engine-error.js';
import type { Engine } from '../engine.js';
import { shadowSource, type ShadowSource } from './source.js';
import { readState, STATE_FILE, writeState, type ShadowMode, type ShadowState } from './state.js';
import { touchedSince, type Touched } from './touched.js';
import { DocOp, DocWriter } from './doc-writer.js';
import { DIR_DOC, renderShadow, shadowName } from './yaml.js';

export interface ReplayStats {
  files: number;
  dirs: number;
  symlinks: number;
  /** Entries written (new or changed). */
  written: number;
  /** Entries found already right. */
  unchanged: number;
  /** Entries on disk that the tree does not hold, removed. */
  removed: number;
  /** Entries reported and skipped. */
  problems: number;
  /** Bytes of file content written (--into) or of YAML written (--shadow). */
  bytes: number;
}

export interface ReplayProblem {
  readonly path: string;
  readonly reason: string;
}

export interface ReplayOptions {
  readonly mode: ShadowMode;
  /** The position: "head" (the default) is all there is today. */
  readonly at?: string;
  /** --into: files written at once. */
  readonly concurrency?: number;
  /** --shadow: threads writing documents (doc-writer.ts). */
  readonly writers?: number;
  readonly onProgress?: (s: Readonly<ReplayStats>) => void;
  readonly onProblem?: (p: ReplayProblem) => void;
  /** Use this source instead of the engine's (tests: crafted trees). */
  readonly source?: ShadowSource;
}

export interface ReplayResult extends ReplayStats {
  readonly mode: ShadowMode;
  readonly dir: string;
  readonly at: string;
  readonly seconds: number;
  /** True when DIR held an earlier replay. */
  readonly incremental: boolean;
  readonly problemList: readonly ReplayProblem[];
}

const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const DIR_NOFOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const CHUNK = 1024 * 1024;
const MAX_PROBLEMS_KEPT = 1000;

type DiskKind = 'file' | 'dir' | 'symlink' | 'other';

function diskKind(d: FsDirent): DiskKind {
  return d.isFile() ? 'file' : d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : 'other';
}

/** Seconds for utimes from whole milliseconds (see export-tree.ts: land on the millisecond exactly). */
function seconds(ms: number): number {
  return (ms + 0.0005) / 1000;
}

/** Runs tasks with at most `limit` at once; the first failure is thrown by add() or drain(). */
class Pool {
  readonly #limit: number;
  #running = 0;
  #waiters: Array<() => void> = [];
  #idle: Array<() => void> = [];
  #error: unknown = null;

  constructor(limit: number) {
    this.#limit = limit;
  }

  async add(task: () => Promise<void>): Promise<void> {
    while (this.#running >= this.#limit) await new Promise<void>((r) => this.#waiters.push(r));
    if (this.#error !== null) throw this.#error;
    this.#running++;
    task()
      .catch((err: unknown) => {
        this.#error ??= err;
      })
      .finally(() => {
        this.#running--;
        this.#waiters.shift()?.();
        if (this.#running === 0) for (const r of this.#idle.splice(0)) r();
      });
  }

  async drain(): Promise<void> {
    while (this.#running > 0) await new Promise<void>((r) => this.#idle.push(r));
    if (this.#error !== null) throw this.#error;
  }
}

let tmpCounter = 0;
function tmpName(dir: string): string {
  return join(dir, `.realize-tmp-${process.pid}-${(tmpCounter++).toString(36)}`);
}

/** Removes whatever is at `path` without following it. */
async function removeEntry(path: string, kind: DiskKind): Promise<void> {
  if (kind === 'dir') await rm(path, { recursive: true, force: true });
  else await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

async function listDir(path: string): Promise<Map<string, DiskKind>> {
  const m = new Map<string, DiskKind>();
  for (const d of await readdir(path, { withFileTypes: true })) m.set(d.name, diskKind(d));
  return m;
}

interface DirFix {
  readonly path: string;
  readonly node: NodeRecord;
}

/** Prepares DIR: a missing or empty directory, or one holding an earlier replay of the same mode. */
async function prepare(dir: string, mode: ShadowMode): Promise<{ fresh: boolean; state: ShadowState | null }> {
  const st = await lstat(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new EngineError('IO', `cannot use ${dir}: ${err.code ?? err.message}`);
  });
  if (st === null) {
    await mkdir(dir, { recursive: true });
    return { fresh: true, state: null };
  }
  if (st.isSymbolicLink()) throw new EngineError('BAD_ARGUMENT', `${dir} is a symbolic link; give the directory itself`);
  if (!st.isDirectory()) throw new EngineError('NOT_A_DIRECTORY', `${dir} is not a directory`);
  const names = await readdir(dir);
  if (names.length === 0) return { fresh: true, state: null };
  const state = await readState(dir);
  if (state === null) {
    throw new EngineError('EXISTS', `${dir} is not empty and holds no earlier replay (no ${STATE_FILE}); replay needs a missing or empty directory, or one it made`);
  }
  if (state.mode !== mode) {
    throw new EngineError('EXISTS', `${dir} holds a --${state.mode} replay; it cannot take a --${mode} one`);
  }
  return { fresh: false, state };
}

export async function replayShadow(engine: Engine, dirArg: string, opts: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const dir = resolve(dirArg);
  const mode = opts.mode;
  const source = opts.source ?? shadowSource(engine, opts.at);
  const asRoot = process.getuid?.() === 0;
  const stats: ReplayStats = { files: 0, dirs: 0, symlinks: 0, written: 0, unchanged: 0, removed: 0, problems: 0, bytes: 0 };
  const problemList: ReplayProblem[] = [];
  const pool = new Pool(opts.concurrency ?? 32);
  const docs = mode === 'shadow' ? new DocWriter({ threads: opts.writers ?? 1 }) : null;
  const dirFixes: DirFix[] = [];
  const visited = new Set<NodeId>();
  /** --into: first path and inode of each hard-linked file written or found in this replay. */
  const linked = new Map<NodeId, Promise<{ path: string; ino: number } | null>>();
  let sinceProgress = 0;

  try {
    const { fresh, state } = await prepare(dir, mode);
    const position = source.feedPositions();
    let touched: Touched | null = null;
    if (mode === 'into' && state !== null && state.at === source.at) touched = await touchedSince(engine.store.feeds, state.position, position);

    const problem = (path: string, reason: string): void => {
      stats.problems++;
      if (problemList.length < MAX_PROBLEMS_KEPT) problemList.push({ path, reason });
      opts.onProblem?.({ path, reason });
    };
    const report = (): void => {
      if (opts.onProgress === undefined) return;
      opts.onProgress(docs === null ? stats : { ...stats, written: stats.written + docs.totals.written, unchanged: stats.unchanged + docs.totals.unchanged, bytes: stats.bytes + docs.totals.bytes });
    };
    const progress = (): void => {
      if (++sinceProgress >= 1000) {
        sinceProgress = 0;
        report();
      }
    };

    // ---- --shadow: documents

    /** Queues a document for the writer threads: created, compared with what is there, or replacing it. */
    const putDoc = async (disk: string, path: string, text: string, had: DiskKind | undefined): Promise<void> => {
      if (had === undefined) return docs!.add(DocOp.New, path, text);
      if (had === 'dir') await removeEntry(path, had);
      return docs!.add(had === 'file' ? DocOp.Compare : DocOp.Replace, path, text, tmpName(disk));
    };

    // ---- --into: files, symlinks

    const sameMeta = (st: { size: number; mtimeMs: number; mode: number; uid: number; gid: number }, node: NodeRecord, size: number): boolean =>
      st.size === size && Math.floor(st.mtimeMs) === node.mtime && (st.mode & 0o7777) === node.mode && (!asRoot || (st.uid === node.uid && st.gid === node.gid));

    const putFile = async (path: string, id: NodeId, node: NodeRecord, had: DiskKind | undefined, dirty: boolean): Promise<void> => {
      const size = source.content(id)?.size ?? 0;
      const hardLinked = node.nlink > 1;
      const first = hardLinked ? linked.get(id) : undefined;
      let settle: ((v: { path: string; ino: number } | null) => void) | undefined;
      if (hardLinked && first === undefined) linked.set(id, new Promise((r) => (settle = r)));
      try {
        const prior = first ? await first : null;
        if (had === 'file' && !dirty) {
          const st = await lstat(path);
          if (st.isFile() && sameMeta(st, node, size) && (prior === null || prior.ino === st.ino)) {
            stats.unchanged++;
            settle?.({ path, ino: st.ino });
            return;
          }
        }
        const tmp = tmpName(resolve(path, '..'));
        if (prior !== null) {
          await link(prior.path, tmp);
        } else {
          const fh = await open(tmp, NEW_FILE, 0o600);
          try {
            for (let offset = 0; offset < size; offset += CHUNK) {
              const data = await source.read(id, offset, Math.min(CHUNK, size - offset));
              if (data.byteLength > 0) await fh.write(data, 0, data.byteLength, offset);
              stats.bytes += data.byteLength;
            }
            await fh.truncate(size);
            if (asRoot) await fh.chown(node.uid, node.gid);
            await fh.chmod(node.mode);
            await fh.utimes(seconds(node.atime), seconds(node.mtime));
          } finally {
            await fh.close();
          }
        }
        if (had === 'dir') await removeEntry(path, had);
        await rename(tmp, path);
        stats.written++;
        if (settle) settle({ path, ino: (await lstat(path)).ino });
      } catch (err) {
        settle?.(null);
        throw err;
      }
    };

    const putSymlink = async (path: string, node: NodeRecord, had: DiskKind | undefined, dirty: boolean): Promise<void> => {
      const target = node.target ?? '';
      if (had === 'symlink' && !dirty) {
        const [now, st] = await Promise.all([readlink(path), lstat(path)]);
        if (now === target && Math.floor(st.mtimeMs) === node.mtime && (!asRoot || (st.uid === node.uid && st.gid === node.gid))) {
          stats.unchanged++;
          return;
        }
      }
      const tmp = tmpName(resolve(path, '..'));
      await symlink(target, tmp);
      if (asRoot) await lchown(tmp, node.uid, node.gid);
      await lutimes(tmp, seconds(node.atime), seconds(node.mtime));
      if (had === 'dir') await removeEntry(path, had);
      await rename(tmp, path);
      stats.written++;
    };

    // ---- the walk

    /** Makes sure `path` is a real directory (never following what is there). Returns true when made now. */
    const ensureDir = async (path: string, had: DiskKind | undefined, storePath: string): Promise<boolean> => {
      if (had === 'dir') return false;
      if (had !== undefined) {
        if (had === 'symlink') problem(storePath, `a symbolic link stood in ${dir} where a directory belongs; removed (not followed)`);
        await removeEntry(path, had);
      }
      await mkdir(path, { mode: mode === 'into' ? 0o700 : 0o755 });
      return true;
    };

    const syncDir = async (disk: string, storePath: string, id: NodeId, node: NodeRecord, fresh: boolean, dirty: boolean): Promise<void> => {
      stats.dirs++;
      progress();
      const onDisk = fresh ? new Map<string, DiskKind>() : await listDir(disk);
      if (mode === 'shadow') {
        const had = onDisk.get(DIR_DOC);
        onDisk.delete(DIR_DOC);
        await putDoc(disk, join(disk, DIR_DOC), renderShadow(storePath, id, node, undefined, undefined), fresh ? undefined : had);
      } else {
        if (!fresh) {
          // An earlier replay may have left it read-only: we must be able to write in it.
          const st = await lstat(disk);
          if ((st.mode & 0o700) !== 0o700) await open(disk, DIR_NOFOLLOW).then(async (fh) => {
            try {
              await fh.chmod((st.mode & 0o7777) | 0o700);
            } finally {
              await fh.close();
            }
          });
        }
        dirFixes.push({ path: disk, node });
      }
      const children = [...source.children(id)];
      for (const { name, id: childId } of children) {
        const childPath = `${storePath}/${name}`;
        const bad = nameProblem(name);
        if (bad !== null) {
          problem(`${storePath}/${JSON.stringify(name)}`, `unsafe name in the tree, skipped: ${bad}`);
          continue;
        }
        const local = mode === 'shadow' ? shadowName(name) : name;
        if (Buffer.byteLength(local) > 255) {
          problem(childPath, 'the escaped shadow name is longer than 255 bytes; skipped');
          continue;
        }
        const child = source.node(childId);
        if (child === undefined) {
          problem(childPath, `directory entry names node ${childId}, which the tree does not hold; skipped`);
          continue;
        }
        const had = onDisk.get(local);
        onDisk.delete(local);
        const path = join(disk, local);
        if (child.kind === 'dir') {
          if (visited.has(childId)) {
            problem(childPath, `directory ${childId} is reached a second time (a cycle or a second parent); skipped`);
            continue;
          }
          visited.add(childId);
          const made = await ensureDir(path, fresh ? undefined : had, childPath);
          await syncDir(path, childPath, childId, child, made, dirty || (touched?.moved.has(childId) ?? false));
          continue;
        }
        const childDirty = touched === null || dirty || touched.touched.has(childId);
        if (child.kind === 'symlink') stats.symlinks++;
        else stats.files++;
        progress();
        if (mode === 'shadow') {
          const isFile = child.kind === 'file';
          await putDoc(disk, path, renderShadow(childPath, childId, child, isFile ? source.content(childId) : undefined, isFile ? source.extents(childId) : undefined), fresh ? undefined : had);
        } else if (child.kind === 'symlink') {
          await pool.add(() => putSymlink(path, child, fresh ? undefined : had, childDirty));
        } else {
          await pool.add(() => putFile(path, childId, child, fresh ? undefined : had, childDirty));
        }
      }
      for (const [name, kind] of onDisk) {
        if (storePath === '' && name === STATE_FILE) continue;
        await removeEntry(join(disk, name), kind);
        stats.removed++;
      }
    };

    // The root of DIR stands for the root of the store: the areas are its directories.
    const rootDisk = fresh ? new Map<string, DiskKind>() : await listDir(dir);
    const rootEntries: Array<{ name: string; id: NodeId; node: NodeRecord }> = [];
    for (const { area, root } of source.areas()) {
      if (!validAreaName(area)) {
        problem(`/${JSON.stringify(area)}`, 'unsafe area name in the tree, skipped');
        continue;
      }
      const node = source.node(root);
      if (node === undefined || node.kind !== 'dir') {
        problem(`/${area}`, `area root ${root} is not a directory in the tree; skipped`);
        continue;
      }
      rootEntries.push({ name: area, id: root, node });
    }
    for (const { name, id, node } of rootEntries) {
      visited.add(id);
      const had = rootDisk.get(name);
      rootDisk.delete(name);
      const path = join(dir, name);
      const made = await ensureDir(path, fresh ? undefined : had, `/${name}`);
      await syncDir(path, `/${name}`, id, node, made, touched?.moved.has(id) ?? false);
    }
    for (const [name, kind] of rootDisk) {
      if (name === STATE_FILE) continue;
      await removeEntry(join(dir, name), kind);
      stats.removed++;
    }
    await pool.drain();
    if (docs !== null) {
      await docs.drain();
      stats.written += docs.totals.written;
      stats.unchanged += docs.totals.unchanged;
      stats.bytes += docs.totals.bytes;
    }

    // --into: directory modes and times last (writing into them moved their mtimes), deepest first.
    for (let i = dirFixes.length - 1; i >= 0; i--) {
      const { path, node } = dirFixes[i]!;
      const fh = await open(path, DIR_NOFOLLOW);
      try {
        const st = await fh.stat();
        if ((st.mode & 0o7777) !== node.mode) await fh.chmod(node.mode);
        if (asRoot && (st.uid !== node.uid || st.gid !== node.gid)) await fh.chown(node.uid, node.gid);
        if (Math.floor(st.mtimeMs) !== node.mtime) await fh.utimes(seconds(node.atime), seconds(node.mtime));
      } finally {
        await fh.close();
      }
    }

    await writeState(dir, { format: 'realize-shadow', version: 1, mode, at: source.at, position });
    opts.onProgress?.(stats);
    return { ...stats, mode, dir, at: source.at, seconds: (performance.now() - started) / 1000, incremental: !fresh, problemList };
  } finally {
    await pool.drain().catch(() => undefined);
    await docs?.close();
    if (opts.source === undefined) await source.close();
  }
}

