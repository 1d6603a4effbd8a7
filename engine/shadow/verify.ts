/**
 * `realize log replay --shadow DIR --verify` (and `--into DIR --verify`): checks a replayed
 * directory against the log, like famfs's shadow test. Every shadow document must parse
 * back (with the `yaml` package) to exactly the projection's record for its path; with
 * --into every file must hold the content, mode and mtime the log says and every symlink its
 * target. Each mismatching, missing or extra entry is named. Reads only; follows nothing.
 */
import { constants, type Dirent as FsDirent } from 'node:fs';
import { lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { nameProblem, validAreaName, type NodeId } from '../../log/index.js';
import type { NodeRecord } from '../../projections/index.js';
import { EngineError } from '../engine-error.js';
import type { Engine } from '../engine.js';
import { shadowSource, type ShadowSource } from './source.js';
import { readState, STATE_FILE, type ShadowMode } from './state.js';
import { DIR_DOC, docDifferences, emitShadow, parseShadow, sameData, shadowDoc, shadowName, type ShadowDoc } from './yaml.js';

export type MismatchKind = 'missing' | 'extra' | 'differs' | 'wrong-type' | 'unparseable';

export interface Mismatch {
  /** Relative to DIR. */
  readonly path: string;
  readonly kind: MismatchKind;
  readonly detail: string;
}

export interface VerifyResult {
  readonly mode: ShadowMode;
  readonly dir: string;
  readonly checked: number;
  readonly mismatches: readonly Mismatch[];
  /** How many mismatches there were in all (the list keeps the first 10,000). */
  readonly mismatchCount: number;
  /** The position the state file records, and whether the log is still there. */
  readonly stale: boolean;
  readonly ok: boolean;
  readonly seconds: number;
}

export interface VerifyOptions {
  readonly mode: ShadowMode;
  readonly at?: string;
  /** Parse every document, not only those whose bytes differ from the canonical rendering. */
  readonly parseAll?: boolean;
  readonly onProgress?: (checked: number) => void;
  readonly onMismatch?: (m: Mismatch) => void;
  readonly source?: ShadowSource;
}

const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;
const MAX_KEPT = 10_000;
const CHUNK = 1024 * 1024;

type DiskKind = 'file' | 'dir' | 'symlink' | 'other';
const kindOf = (d: FsDirent): DiskKind => (d.isFile() ? 'file' : d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'symlink' : 'other');
const wantKind = (n: NodeRecord, mode: ShadowMode): DiskKind => (n.kind === 'dir' ? 'dir' : n.kind === 'symlink' && mode === 'into' ? 'symlink' : 'file');

async function readNoFollow(path: string): Promise<Buffer | null> {
  let fh: FileHandle;
  try {
    fh = await open(path, READ_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

export async function verifyShadow(engine: Engine, dirArg: string, opts: VerifyOptions): Promise<VerifyResult> {
  const started = performance.now();
  const dir = resolve(dirArg);
  const mode = opts.mode;
  const source = opts.source ?? shadowSource(engine, opts.at);
  const mismatches: Mismatch[] = [];
  let mismatchCount = 0;
  let checked = 0;
  const report = (path: string, kind: MismatchKind, detail: string): void => {
    mismatchCount++;
    const m = { path, kind, detail };
    if (mismatches.length < MAX_KEPT) mismatches.push(m);
    opts.onMismatch?.(m);
  };
  const tick = (): void => {
    if (++checked % 1000 === 0) opts.onProgress?.(checked);
  };

  try {
    const st = await lstat(dir).catch(() => null);
    if (st === null || !st.isDirectory()) throw new EngineError('NOT_FOUND', `${dir} is not a directory holding a replay`);
    const state = await readState(dir);
    if (state === null) report(STATE_FILE, 'missing', 'no replay state: this directory was not made by `realize log replay`');
    else if (state.mode !== mode) report(STATE_FILE, 'differs', `holds a --${state.mode} replay, not --${mode}`);
    const position = source.feedPositions();
    const stale = state !== null && !sameData(state.position, position);

    const checkDoc = async (rel: string, path: string, expected: ShadowDoc): Promise<void> => {
      tick();
      const text = emitShadow(expected);
      const data = await readNoFollow(path);
      if (data === null) {
        report(rel, 'wrong-type', 'cannot be opened as a regular file (a symbolic link?)');
        return;
      }
      if (!opts.parseAll && data.equals(Buffer.from(text))) return;
      let parsed: unknown;
      try {
        parsed = parseShadow(data.toString('utf8'));
      } catch (err) {
        report(rel, 'unparseable', `not YAML: ${(err as Error).message.split('\n')[0]}`);
        return;
      }
      if (!sameData(parsed, expected)) report(rel, 'differs', `differs from the log in ${docDifferences(parsed, expected).join(', ')}`);
    };

    const checkFile = async (rel: string, path: string, id: NodeId, node: NodeRecord): Promise<void> => {
      tick();
      const s = await lstat(path);
      const size = source.content(id)?.size ?? 0;
      const problems: string[] = [];
      if (s.size !== size) problems.push(`size ${s.size}, log says ${size}`);
      if ((s.mode & 0o7777) !== node.mode) problems.push(`mode ${(s.mode & 0o7777).toString(8)}, log says ${node.mode.toString(8)}`);
      if (Math.floor(s.mtimeMs) !== node.mtime) problems.push(`mtime ${Math.floor(s.mtimeMs)}, log says ${node.mtime}`);
      if (problems.length === 0) {
        const fh = await open(path, READ_NOFOLLOW);
        try {
          const buf = Buffer.alloc(CHUNK);
          for (let offset = 0; offset < size; offset += CHUNK) {
            const want = await source.read(id, offset, Math.min(CHUNK, size - offset));
            const { bytesRead } = await fh.read(buf, 0, want.byteLength, offset);
            if (bytesRead !== want.byteLength || !buf.subarray(0, bytesRead).equals(want)) {
              problems.push(`content differs from byte ${offset}`);
              break;
            }
          }
        } finally {
          await fh.close();
        }
      }
      if (problems.length > 0) report(rel, 'differs', problems.join('; '));
    };

    const checkSymlink = async (rel: string, path: string, node: NodeRecord): Promise<void> => {
      tick();
      const target = await readlink(path);
      if (target !== node.target) report(rel, 'differs', `points to ${JSON.stringify(target)}, log says ${JSON.stringify(node.target)}`);
    };

    const checkDirMeta = async (rel: string, path: string, node: NodeRecord): Promise<void> => {
      const s = await lstat(path);
      const problems: string[] = [];
      if ((s.mode & 0o7777) !== node.mode) problems.push(`mode ${(s.mode & 0o7777).toString(8)}, log says ${node.mode.toString(8)}`);
      if (Math.floor(s.mtimeMs) !== node.mtime) problems.push(`mtime ${Math.floor(s.mtimeMs)}, log says ${node.mtime}`);
      if (problems.length > 0) report(rel, 'differs', problems.join('; '));
    };

    const visited = new Set<NodeId>();
    const walk = async (disk: string, rel: string, storePath: string, id: NodeId, node: NodeRecord): Promise<void> => {
      tick();
      const onDisk = new Map<string, DiskKind>();
      for (const d of await readdir(disk, { withFileTypes: true })) onDisk.set(d.name, kindOf(d));
      if (mode === 'shadow') {
        const had = onDisk.get(DIR_DOC);
        onDisk.delete(DIR_DOC);
        const docRel = `${rel}/${DIR_DOC}`;
        if (had === undefined) report(docRel, 'missing', `the document of directory ${storePath}`);
        else if (had !== 'file') report(docRel, 'wrong-type', `a ${had}, not a file`);
        else await checkDoc(docRel, join(disk, DIR_DOC), shadowDoc(storePath, id, node, undefined, undefined));
      } else await checkDirMeta(rel, disk, node);
      for (const { name, id: childId } of [...source.children(id)]) {
        if (nameProblem(name) !== null) continue; // replay skips these too (and reports them)
        const child = source.node(childId);
        if (child === undefined) continue;
        const local = mode === 'shadow' ? shadowName(name) : name;
        const childRel = `${rel}/${local}`;
        const childStore = `${storePath}/${name}`;
        const had = onDisk.get(local);
        onDisk.delete(local);
        const want = wantKind(child, mode);
        if (had === undefined) {
          report(childRel, 'missing', `${child.kind} ${childStore}`);
          continue;
        }
        if (had !== want) {
          report(childRel, 'wrong-type', `a ${had}, should be a ${want} (${child.kind} ${childStore})`);
          continue;
        }
        const path = join(disk, local);
        if (child.kind === 'dir') {
          if (visited.has(childId)) continue;
          visited.add(childId);
          await walk(path, childRel, childStore, childId, child);
        } else if (mode === 'shadow') {
          await checkDoc(childRel, path, shadowDoc(childStore, childId, child, child.kind === 'file' ? source.content(childId) : undefined, child.kind === 'file' ? source.extents(childId) : undefined));
        } else if (child.kind === 'symlink') await checkSymlink(childRel, path, child);
        else await checkFile(childRel, path, childId, child);
      }
      for (const [name, kind] of [...onDisk].sort(([a], [b]) => (a < b ? -1 : 1))) report(`${rel}/${name}`, 'extra', `a ${kind} the log does not hold`);
    };

    const rootDisk = new Map<string, DiskKind>();
    for (const d of await readdir(dir, { withFileTypes: true })) rootDisk.set(d.name, kindOf(d));
    rootDisk.delete(STATE_FILE);
    for (const { area, root } of source.areas()) {
      if (!validAreaName(area)) continue;
      const node = source.node(root);
      if (node === undefined || node.kind !== 'dir') continue;
      const had = rootDisk.get(area);
      rootDisk.delete(area);
      if (had === undefined) report(area, 'missing', `area ${area}`);
      else if (had !== 'dir') report(area, 'wrong-type', `a ${had}, should be a directory (area ${area})`);
      else {
        visited.add(root);
        await walk(join(dir, area), area, `/${area}`, root, node);
      }
    }
    for (const [name, kind] of [...rootDisk].sort(([a], [b]) => (a < b ? -1 : 1))) report(name, 'extra', `a ${kind} the log does not hold`);
    opts.onProgress?.(checked);
    return { mode, dir, checked, mismatches, mismatchCount, stale, ok: mismatchCount === 0, seconds: (performance.now() - started) / 1000 };
  } finally {
    if (opts.source === undefined) await source.close();
  }
}
