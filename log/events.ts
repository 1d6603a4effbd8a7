/**
 * The events of the filesystem model: every mutation of a tree is one of these, carried in
 * the entries of an area's feeds. Readonly discriminated unions; `validateEvent` is called
 * before an event is appended and again before it is applied.
 *
 * Ids are 32 lowercase hex characters (128 random bits): they never collide between peers.
 * Times are wall-clock milliseconds chosen by the peer that decided the change.
 * Block hashes are 32-byte SHA-256 digests; ZERO_BLOCK stands for a block of zeros (a hole).
 */
import { LogError } from './log-error.js';
import { isHexId } from './bytes.js';

export type NodeId = string;
export type BlockHash = Uint8Array;

export type Placement = 'real' | 'unreal';

export interface Extent {
  readonly device: string;
  readonly offset: number;
  readonly length: number;
}

interface Base {
  readonly time: number;
}

/** Creates an area: a named tree whose root directory has id `root`. */
export interface AreaCreate extends Base {
  readonly type: 'area-create';
  readonly area: string;
  readonly root: NodeId;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}
/** What a new file and a new directory carry alike. */
interface NewNode extends Base {
  readonly id: NodeId;
  readonly parent: NodeId;
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}
export interface Create extends NewNode {
  readonly type: 'create';
}
export interface Mkdir extends NewNode {
  readonly type: 'mkdir';
}
export interface Symlink extends Base {
  readonly type: 'symlink';
  readonly id: NodeId;
  readonly parent: NodeId;
  readonly name: string;
  readonly target: string;
  readonly uid: number;
  readonly gid: number;
}
export interface Link extends Base {
  readonly type: 'link';
  readonly id: NodeId;
  readonly parent: NodeId;
  readonly name: string;
}
/** Blocks [index, hash] of the file's branch replaced; `size` is the file's size after the write. */
export interface Write extends Base {
  readonly type: 'write';
  readonly id: NodeId;
  readonly size: number;
  readonly blocks: ReadonlyArray<readonly [index: number, hash: BlockHash]>;
}
/** Sets the size; when it cuts inside a block, `tail` is the hash of that block's new content. */
export interface Truncate extends Base {
  readonly type: 'truncate';
  readonly id: NodeId;
  readonly size: number;
  readonly tail: BlockHash | null;
}
/** Folds the file's pending writes and truncates into a new content version. */
export interface Commit extends Base {
  readonly type: 'commit';
  readonly id: NodeId;
}
/** Moves the entry (parent, name) of node id to (newParent, newName), replacing what is there. */
export interface Rename extends Base {
  readonly type: 'rename';
  readonly id: NodeId;
  readonly parent: NodeId;
  readonly name: string;
  readonly newParent: NodeId;
  readonly newName: string;
}
export interface Unlink extends Base {
  readonly type: 'unlink';
  readonly id: NodeId;
  readonly parent: NodeId;
  readonly name: string;
}
export interface Rmdir extends Base {
  readonly type: 'rmdir';
  readonly id: NodeId;
  readonly parent: NodeId;
  readonly name: string;
}
export interface Setattr extends Base {
  readonly type: 'setattr';
  readonly id: NodeId;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly atime?: number;
  readonly mtime?: number;
}
export interface Setxattr extends Base {
  readonly type: 'setxattr';
  readonly id: NodeId;
  readonly name: string;
  readonly value: Uint8Array;
}
export interface Removexattr extends Base {
  readonly type: 'removexattr';
  readonly id: NodeId;
  readonly name: string;
}
export interface FamfsAlloc extends Base {
  readonly type: 'famfs-alloc';
  readonly id: NodeId;
  readonly extents: readonly Extent[];
}
export interface FamfsFree extends Base {
  readonly type: 'famfs-free';
  readonly id: NodeId;
  readonly extents: readonly Extent[];
}
/**
 * Adds a famfs device to an area: from then on the area is a famfs area, and space for its
 * files' data is allocated as extents of its devices (2 MiB units, FAMFS_ALLOC_UNIT). `size`
 * is the device's size in bytes, as its superblock says; the first unit holds the superblock.
 */
export interface FamfsDevice extends Base {
  readonly type: 'famfs-device';
  readonly area: string;
  /** The device's uuid, 32 lowercase hex digits (its superblock holds the same 16 bytes). */
  readonly device: string;
  readonly size: number;
}
export interface PlacementMark extends Base {
  readonly type: 'placement';
  readonly id: NodeId;
  readonly peer: string;
  readonly placement: Placement;
}

/**
 * Household membership (carried in household feeds, area ''): adds a peer, known by its
 * Ed25519 public key (64 hex digits), under a name, with the address it listens on, if any
 * (a deaf peer has none). Adding a key again renames it or changes its address.
 */
export interface PeerAdd extends Base {
  readonly type: 'peer-add';
  readonly key: string;
  readonly name: string;
  readonly address?: string;
}
/** Removes a peer from the household: it can no longer connect, and its later entries are refused. */
export interface PeerRemove extends Base {
  readonly type: 'peer-remove';
  readonly key: string;
}

export type FsEvent =
  | PeerAdd
  | PeerRemove
  | AreaCreate
  | Create
  | Mkdir
  | Symlink
  | Link
  | Write
  | Truncate
  | Commit
  | Rename
  | Unlink
  | Rmdir
  | Setattr
  | Setxattr
  | Removexattr
  | FamfsAlloc
  | FamfsFree
  | FamfsDevice
  | PlacementMark;

export type FsEventType = FsEvent['type'];

export const ZERO_BLOCK: BlockHash = new Uint8Array(32);
/**
 * Files are cut into fixed-size blocks aligned to file offsets: block i holds bytes
 * [i * BLOCK_SIZE, (i + 1) * BLOCK_SIZE). A format constant: write events index blocks by it.
 */
export const BLOCK_SIZE = 128 * 1024;
export const NAME_MAX = 255;
/** famfs allocates in units of 2 MiB (the PMD page size famfs uses); a device has at least two (superblock + data). */
export const FAMFS_ALLOC_UNIT = 2 * 1024 * 1024;
export const PATH_MAX = 4096;
export const XATTR_NAME_MAX = 255;
export const XATTR_VALUE_MAX = 64 * 1024;
/** A household peer's name. */
export const PEER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** HOST:PORT, where HOST is a name, an IPv4 address or a bracketed IPv6 address. */
export const PEER_ADDRESS_RE = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$/;
const AREA_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

/** Why a name cannot be a directory entry, or null when it can. */
export function nameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'a name must be a string';
  if (name.length === 0) return 'a name cannot be empty';
  if (name === '.' || name === '..') return `"${name}" cannot be a name`;
  if (name.includes('/')) return `a name cannot contain "/": ${JSON.stringify(name)}`;
  if (name.includes('\0')) return 'a name cannot contain NUL';
  // A UTF-16 unit is at most 3 bytes of UTF-8: a short name needs no count of its bytes.
  if (name.length * 3 > NAME_MAX && Buffer.byteLength(name) > NAME_MAX) return `a name is at most ${NAME_MAX} bytes`;
  return null;
}

export function validAreaName(area: unknown): area is string {
  return typeof area === 'string' && AREA_RE.test(area);
}

function fail(e: { type?: unknown }, why: string): never {
  throw new LogError('INVALID_EVENT', `invalid ${String(e.type)} event: ${why}`);
}

function uint(e: { type?: unknown }, v: unknown, what: string, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(e, `${what} must be an integer from 0 to ${max}`);
}

function id(e: { type?: unknown }, v: unknown, what: string): void {
  if (typeof v !== 'string' || !isHexId(v)) fail(e, `${what} must be a 32-hex-digit id`);
}

function name(e: { type?: unknown }, v: unknown, what = 'name'): void {
  const p = nameProblem(v);
  if (p !== null) {
    if (typeof v === 'string' && Buffer.byteLength(v) > NAME_MAX) throw new LogError('NAME_TOO_LONG', `invalid ${String(e.type)} event: ${what}: ${p}`);
    fail(e, `${what}: ${p}`);
  }
}

function hash(e: { type?: unknown }, v: unknown, what: string): void {
  if (!(v instanceof Uint8Array) || v.byteLength !== 32) fail(e, `${what} must be a 32-byte hash`);
}

function extents(e: { type?: unknown }, v: unknown): void {
  if (!Array.isArray(v) || v.length === 0) fail(e, 'extents must be a non-empty list');
  for (const x of v as unknown[]) {
    const ext = x as Partial<Extent>;
    if (typeof ext !== 'object' || ext === null || typeof ext.device !== 'string' || !isHexId(ext.device)) fail(e, 'an extent needs a device uuid (32 hex digits)');
    uint(e, ext.offset, 'extent offset');
    uint(e, ext.length, 'extent length');
    if (ext.length === 0) fail(e, 'an extent cannot be empty');
  }
}

const MODE_MAX = 0o7777;

/** Throws LogError (INVALID_EVENT or NAME_TOO_LONG) unless `value` is a well-formed event. Returns it typed. */
export function validateEvent(value: unknown): FsEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new LogError('INVALID_EVENT', 'an event must be a map');
  const e = value as Record<string, unknown> & { type?: unknown };
  uint(e, e['time'], 'time');
  const t = e.type as FsEventType;
  switch (t) {
    case 'area-create':
      if (!validAreaName(e['area'])) fail(e, 'area names are 1-64 of [a-z0-9-], starting with a letter or digit');
      id(e, e['root'], 'root');
      uint(e, e['mode'], 'mode', MODE_MAX);
      uint(e, e['uid'], 'uid', 0xffffffff);
      uint(e, e['gid'], 'gid', 0xffffffff);
      break;
    case 'create':
    case 'mkdir':
      id(e, e['id'], 'id');
      id(e, e['parent'], 'parent');
      name(e, e['name']);
      uint(e, e['mode'], 'mode', MODE_MAX);
      uint(e, e['uid'], 'uid', 0xffffffff);
      uint(e, e['gid'], 'gid', 0xffffffff);
      break;
    case 'symlink':
      id(e, e['id'], 'id');
      id(e, e['parent'], 'parent');
      name(e, e['name']);
      if (typeof e['target'] !== 'string' || e['target'].length === 0 || e['target'].includes('\0') || Buffer.byteLength(e['target']) > PATH_MAX) {
        fail(e, `a symlink target is 1 to ${PATH_MAX} bytes without NUL`);
      }
      uint(e, e['uid'], 'uid', 0xffffffff);
      uint(e, e['gid'], 'gid', 0xffffffff);
      break;
    case 'link':
    case 'unlink':
    case 'rmdir':
      id(e, e['id'], 'id');
      id(e, e['parent'], 'parent');
      name(e, e['name']);
      break;
    case 'write': {
      id(e, e['id'], 'id');
      uint(e, e['size'], 'size');
      const blocks = e['blocks'];
      if (!Array.isArray(blocks) || blocks.length === 0) fail(e, 'blocks must be a non-empty list');
      let last = -1;
      for (const b of blocks as unknown[]) {
        if (!Array.isArray(b) || b.length !== 2) fail(e, 'each block is [index, hash]');
        uint(e, b[0], 'block index');
        if ((b[0] as number) <= last) fail(e, 'block indexes must increase');
        last = b[0] as number;
        hash(e, b[1], 'block hash');
      }
      break;
    }
    case 'truncate':
      id(e, e['id'], 'id');
      uint(e, e['size'], 'size');
      if (e['tail'] !== null) hash(e, e['tail'], 'tail');
      break;
    case 'commit':
      id(e, e['id'], 'id');
      break;
    case 'rename':
      id(e, e['id'], 'id');
      id(e, e['parent'], 'parent');
      name(e, e['name']);
      id(e, e['newParent'], 'newParent');
      name(e, e['newName'], 'newName');
      break;
    case 'setattr':
      id(e, e['id'], 'id');
      if (e['mode'] !== undefined) uint(e, e['mode'], 'mode', MODE_MAX);
      if (e['uid'] !== undefined) uint(e, e['uid'], 'uid', 0xffffffff);
      if (e['gid'] !== undefined) uint(e, e['gid'], 'gid', 0xffffffff);
      if (e['atime'] !== undefined) uint(e, e['atime'], 'atime');
      if (e['mtime'] !== undefined) uint(e, e['mtime'], 'mtime');
      break;
    case 'setxattr':
      id(e, e['id'], 'id');
      if (typeof e['name'] !== 'string' || e['name'].length === 0 || Buffer.byteLength(e['name']) > XATTR_NAME_MAX || e['name'].includes('\0')) fail(e, 'bad xattr name');
      if (!(e['value'] instanceof Uint8Array) || e['value'].byteLength > XATTR_VALUE_MAX) fail(e, `an xattr value is at most ${XATTR_VALUE_MAX} bytes`);
      break;
    case 'removexattr':
      id(e, e['id'], 'id');
      if (typeof e['name'] !== 'string' || e['name'].length === 0) fail(e, 'bad xattr name');
      break;
    case 'famfs-alloc':
    case 'famfs-free':
      id(e, e['id'], 'id');
      extents(e, e['extents']);
      break;
    case 'famfs-device':
      if (!validAreaName(e['area'])) fail(e, 'area names are 1-64 of [a-z0-9-], starting with a letter or digit');
      id(e, e['device'], 'device');
      uint(e, e['size'], 'size');
      if ((e['size'] as number) < 2 * FAMFS_ALLOC_UNIT) fail(e, `a famfs device holds at least ${2 * FAMFS_ALLOC_UNIT} bytes (a superblock unit and a data unit)`);
      break;
    case 'peer-add':
      if (typeof e['key'] !== 'string' || !/^[0-9a-f]{64}$/.test(e['key'])) fail(e, 'key must be a 64-hex-digit Ed25519 public key');
      if (typeof e['name'] !== 'string' || !PEER_NAME_RE.test(e['name'])) fail(e, 'a peer name is 1-64 of [A-Za-z0-9._-], starting with a letter or digit');
      if (e['address'] !== undefined && (typeof e['address'] !== 'string' || !PEER_ADDRESS_RE.test(e['address']))) fail(e, 'an address is HOST:PORT');
      break;
    case 'peer-remove':
      if (typeof e['key'] !== 'string' || !/^[0-9a-f]{64}$/.test(e['key'])) fail(e, 'key must be a 64-hex-digit Ed25519 public key');
      break;
    case 'placement':
      id(e, e['id'], 'id');
      if (typeof e['peer'] !== 'string' || !/^[0-9a-f]{64}$/.test(e['peer'])) fail(e, 'peer must be a 64-hex-digit key');
      if (e['placement'] !== 'real' && e['placement'] !== 'unreal') fail(e, 'placement is real or unreal');
      break;
    default: {
      const never: never = t;
      throw new LogError('INVALID_EVENT', `unknown event type ${JSON.stringify(never)}`);
    }
  }
  return value as FsEvent;
}
