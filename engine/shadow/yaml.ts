/**
 * The shadow filesystem's YAML (spec/shadow-format.md): one document per file, symlink and
 * directory, built from the projections' records, and read back with the `yaml` package.
 *
 * Writing uses a small emitter of its own: `yaml.stringify` costs ~180 µs a document here,
 * which alone would cap a replay near 5,000 files/s. The emitter writes one fixed layout
 * (block mappings, the seed's extents list, every string single-quoted, or double-quoted
 * with escapes when it holds a character YAML cannot carry in single quotes), and the tests
 * prove that what it writes parses back, with the `yaml` package, to exactly the record.
 */
import { parse } from 'yaml';
import { type Extent, type NodeId } from '../../log/index.js';
import { versionHash, type ContentRow, type NodeRecord } from '../../projections/index.js';
import { uuidString } from '../famfs/device.js';

export interface ShadowExtent {
  readonly device_uuid: string;
  readonly offset: number;
  readonly length: number;
}

/** A time: ISO 8601 UTC with milliseconds, or whole milliseconds when no date can hold it. */
export type ShadowTime = string | number;

export interface FileFields {
  readonly path: string;
  readonly id: NodeId;
  readonly owner: number;
  readonly group: number;
  readonly permissions: string;
  readonly size: number;
  readonly nlink: number;
  readonly mtime: ShadowTime;
  readonly ctime: ShadowTime;
  readonly content_hash: string;
  readonly version: number;
  readonly pending: number;
  readonly extents?: readonly ShadowExtent[];
}

export interface DirectoryFields {
  readonly path: string;
  readonly id: NodeId;
  readonly owner: number;
  readonly group: number;
  readonly permissions: string;
  readonly nlink: number;
  readonly mtime: ShadowTime;
  readonly ctime: ShadowTime;
}

export interface SymlinkFields {
  readonly path: string;
  readonly id: NodeId;
  readonly owner: number;
  readonly group: number;
  readonly target: string;
  readonly nlink: number;
  readonly mtime: ShadowTime;
  readonly ctime: ShadowTime;
}

/** One shadow document: exactly one of these keys. */
export type ShadowDoc = { readonly file: FileFields } | { readonly directory: DirectoryFields } | { readonly symlink: SymlinkFields };

/** The name of a directory's own document, inside it. */
export const DIR_DOC = '.realize-dir.yaml';
/** Names the shadow reserves start with this; a tree name that does gets ESCAPE in front. */
export const RESERVED_PREFIX = '.realize';
export const ESCAPE = '.realize%';

/** The shadow's name for a tree name (reserved names are escaped; one-to-one). */
export function shadowName(name: string): string {
  return name.startsWith(RESERVED_PREFIX) ? `${ESCAPE}${name}` : name;
}

/** The tree name a shadow name stands for, or null for a name the shadow reserves. */
export function treeName(name: string): string | null {
  if (name.startsWith(ESCAPE)) return name.slice(ESCAPE.length);
  if (name.startsWith(RESERVED_PREFIX)) return null;
  return name;
}

export function shadowTime(ms: number): ShadowTime {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : ms;
}

export function permissions(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** The hash of a file's current content: its version hash once committed, else its branch's. */
export function contentHash(row: ContentRow | undefined): string {
  if (row === undefined) return hex(versionHash(0, new Uint8Array(0)));
  return hex(row.pending === 0 && row.version !== null ? row.version : versionHash(row.size, row.blocks));
}

export function shadowExtents(extents: readonly Extent[]): ShadowExtent[] {
  return extents.map((e) => ({ device_uuid: uuidString(e.device), offset: e.offset, length: e.length }));
}

/** The document of a node at `path`, from its records. */
export function shadowDoc(path: string, id: NodeId, node: NodeRecord, content: ContentRow | undefined, extents: readonly Extent[] | undefined): ShadowDoc {
  const common = { path, id, owner: node.uid, group: node.gid };
  const times = { mtime: shadowTime(node.mtime), ctime: shadowTime(node.ctime) };
  switch (node.kind) {
    case 'dir':
      return { directory: { ...common, permissions: permissions(node.mode), nlink: node.nlink, ...times } };
    case 'symlink':
      return { symlink: { ...common, target: node.target ?? '', nlink: node.nlink, ...times } };
    case 'file':
      return {
        file: {
          ...common,
          permissions: permissions(node.mode),
          size: content?.size ?? 0,
          nlink: node.nlink,
          ...times,
          content_hash: contentHash(content),
          version: content?.commits ?? 0,
          pending: content?.pending ?? 0,
          ...(extents !== undefined && extents.length > 0 ? { extents: shadowExtents(extents) } : {}),
        },
      };
  }
}

// ---------------------------------------------------------------------------------------
// The emitter

/** Characters a single-quoted YAML scalar carries as they are (printable, no line breaks). */
const SINGLE_SAFE = /^[\x20-\x7e\u00a0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\u{10000}-\u{10ffff}]*$/u;

/** A YAML string scalar: single-quoted, or double-quoted with escapes for what single quotes cannot hold. */
export function quote(s: string): string {
  if (SINGLE_SAFE.test(s)) return `'${s.replaceAll("'", "''")}'`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff) {
      out += s[i]! + s[i + 1]!; // a surrogate pair: an astral character, printable
      i++;
    } else if ((c >= 0x20 && c <= 0x7e) || (c >= 0xa0 && c <= 0xd7ff && c !== 0x2028 && c !== 0x2029) || (c >= 0xe000 && c <= 0xfffd && c !== 0xfeff)) out += s[i];
    else if (c < 0x100) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += `\\u${c.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

function scalar(v: string | number): string {
  return typeof v === 'number' ? String(v) : quote(v);
}

/** The bytes of a document, as the shadow holds it. */
export function emitShadow(doc: ShadowDoc): string {
  if ('file' in doc) {
    const f = doc.file;
    let s =
      `file:\n  path: ${quote(f.path)}\n  id: ${quote(f.id)}\n  owner: ${f.owner}\n  group: ${f.group}\n  permissions: ${quote(f.permissions)}\n` +
      `  size: ${f.size}\n  nlink: ${f.nlink}\n  mtime: ${scalar(f.mtime)}\n  ctime: ${scalar(f.ctime)}\n` +
      `  content_hash: ${quote(f.content_hash)}\n  version: ${f.version}\n  pending: ${f.pending}\n`;
    if (f.extents !== undefined) {
      s += '  extents:\n';
      for (const e of f.extents) s += `    - device_uuid: ${quote(e.device_uuid)}\n      offset: ${e.offset}\n      length: ${e.length}\n`;
    }
    return s;
  }
  if ('directory' in doc) {
    const d = doc.directory;
    return (
      `directory:\n  path: ${quote(d.path)}\n  id: ${quote(d.id)}\n  owner: ${d.owner}\n  group: ${d.group}\n  permissions: ${quote(d.permissions)}\n` +
      `  nlink: ${d.nlink}\n  mtime: ${scalar(d.mtime)}\n  ctime: ${scalar(d.ctime)}\n`
    );
  }
  const l = doc.symlink;
  return (
    `symlink:\n  path: ${quote(l.path)}\n  id: ${quote(l.id)}\n  owner: ${l.owner}\n  group: ${l.group}\n  target: ${quote(l.target)}\n` +
    `  nlink: ${l.nlink}\n  mtime: ${scalar(l.mtime)}\n  ctime: ${scalar(l.ctime)}\n`
  );
}

/** shadowTime, remembering the last time rendered (a tree's files often share their times). */
let lastMs = Number.NaN;
let lastTime = '';
function timeScalar(ms: number): string {
  if (ms !== lastMs) {
    lastTime = scalar(shadowTime(ms));
    lastMs = ms;
  }
  return lastTime;
}

/**
 * The bytes of the document of a node at `path`, straight from its records: the same bytes as
 * `emitShadow(shadowDoc(...))` (the tests hold them equal) without building the document
 * first. This is what replay renders for every file.
 */
export function renderShadow(path: string, id: NodeId, node: NodeRecord, content: ContentRow | undefined, extents: readonly Extent[] | undefined): string {
  const head = `  path: ${quote(path)}\n  id: ${quote(id)}\n  owner: ${node.uid}\n  group: ${node.gid}\n`;
  const times = `  nlink: ${node.nlink}\n  mtime: ${timeScalar(node.mtime)}\n  ctime: ${timeScalar(node.ctime)}\n`;
  switch (node.kind) {
    case 'dir':
      return `directory:\n${head}  permissions: '${permissions(node.mode)}'\n${times}`;
    case 'symlink':
      return `symlink:\n${head}  target: ${quote(node.target ?? '')}\n${times}`;
    case 'file': {
      let s =
        `file:\n${head}  permissions: '${permissions(node.mode)}'\n  size: ${content?.size ?? 0}\n${times}` +
        `  content_hash: '${contentHash(content)}'\n  version: ${content?.commits ?? 0}\n  pending: ${content?.pending ?? 0}\n`;
      if (extents !== undefined && extents.length > 0) {
        s += '  extents:\n';
        for (const e of extents) s += `    - device_uuid: ${quote(uuidString(e.device))}\n      offset: ${e.offset}\n      length: ${e.length}\n`;
      }
      return s;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Reading back

/** Parses a shadow document with the `yaml` package (YAML 1.2 core schema). Throws on bad YAML. */
export function parseShadow(text: string): unknown {
  return parse(text, { schema: 'core', uniqueKeys: true, maxAliasCount: 0 });
}

/** Deep equality of plain parsed data (maps compare as sets of keys). */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameData(x, bb[i]));
  }
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The fields where a parsed document differs from the expected one ("file.size", ...). */
export function docDifferences(parsed: unknown, expected: ShadowDoc): string[] {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return ['(not a mapping)'];
  const out: string[] = [];
  const p = parsed as Record<string, unknown>;
  const e = expected as unknown as Record<string, Record<string, unknown>>;
  for (const k of new Set([...Object.keys(p), ...Object.keys(e)])) {
    if (!(k in e) || !(k in p)) {
      out.push(k);
      continue;
    }
    const pv = p[k];
    const ev = e[k]!;
    if (typeof pv !== 'object' || pv === null || Array.isArray(pv)) {
      out.push(k);
      continue;
    }
    for (const f of new Set([...Object.keys(pv), ...Object.keys(ev)])) {
      if (!sameData((pv as Record<string, unknown>)[f], ev[f])) out.push(`${k}.${f}`);
    }
  }
  return out;
}
