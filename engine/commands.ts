/** What callers ask of the engine. Namespace commands name paths; content commands name a file's id. */
import type { BlockHash, NodeId } from '../log/index.js';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export type Command =
  | { readonly type: 'create'; readonly path: string; readonly mode: number; readonly owner: Owner; readonly exclusive?: boolean }
  | { readonly type: 'mkdir'; readonly path: string; readonly mode: number; readonly owner: Owner }
  | { readonly type: 'symlink'; readonly path: string; readonly target: string; readonly owner: Owner }
  | { readonly type: 'link'; readonly path: string; readonly newPath: string }
  | { readonly type: 'unlink'; readonly path: string }
  | { readonly type: 'rmdir'; readonly path: string }
  | { readonly type: 'rename'; readonly from: string; readonly to: string }
  | {
      readonly type: 'setattr';
      readonly id: NodeId;
      readonly mode?: number;
      readonly uid?: number;
      readonly gid?: number;
      readonly atime?: number;
      readonly mtime?: number;
    }
  | { readonly type: 'setxattr'; readonly id: NodeId; readonly name: string; readonly value: Uint8Array; readonly flag?: 'create' | 'replace' }
  | { readonly type: 'removexattr'; readonly id: NodeId; readonly name: string }
  | {
      readonly type: 'write';
      readonly id: NodeId;
      readonly size: number;
      readonly blocks: ReadonlyArray<readonly [number, BlockHash]>;
      /** Also fold the file's pending writes into a new version, in the same entry (a close). */
      readonly commit?: boolean;
      /** Then set these attributes, in the same entry (utimens, chmod, chown after writes). */
      readonly attrs?: { readonly mode?: number; readonly uid?: number; readonly gid?: number; readonly atime?: number; readonly mtime?: number };
    }
  | { readonly type: 'truncate'; readonly id: NodeId; readonly size: number; readonly tail: BlockHash | null }
  | { readonly type: 'commit'; readonly id: NodeId };

export type CommandType = Command['type'];
