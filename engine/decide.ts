/**
 * The decider: a pure function from (the current tree, a command) to the events that carry
 * it out, or an EngineError saying why it cannot be done. No I/O, no clock, no randomness of
 * its own: ids and time come from `ctx`.
 */
import { LogError, nameProblem, PATH_MAX, validAreaName, validateEvent, type FsEvent, type NodeId } from '../log/index.js';
import { ROOT_ID } from '../projections/index.js';
import type { Command } from './commands.js';
import { EngineError } from './engine-error.js';
import { joinPath, parentAndName, splitPath } from './fs-path.js';
import { resolve, resolveMaybe, type Resolved, type TreeView } from './tree-view.js';
import type { ParentMemo } from './parent-memo.js';

export interface DecideContext {
  readonly newId: () => NodeId;
  readonly now: number;
  /** Where a removal finds its parent directory resolved by the last one (parent-memo.ts). */
  readonly parents?: ParentMemo;
}

/** The events, and the area whose feed they belong in. */
export interface Decision {
  readonly area: string;
  readonly events: readonly FsEvent[];
}

const NONE: Decision = { area: '', events: [] };

function parentDir(view: TreeView, parts: readonly string[]): Resolved {
  const parent = resolve(view, parts);
  if (parent.node.kind !== 'dir') throw new EngineError('NOT_A_DIRECTORY', `${joinPath(parts)} is not a directory`);
  if (parent.id === ROOT_ID) throw new EngineError('NOT_PERMITTED', 'only areas live at the root of the store (mkdir /NAME creates an area)');
  return parent;
}

/**
 * A removal's parent directory and name: from the memo when the path's parent text is the last
 * one resolved (the name checked as splitPath checks it), else resolved, and remembered.
 */
function removalParent(view: TreeView, path: string, memo: ParentMemo | undefined): { parent: Resolved; name: string } {
  const cut = path.lastIndexOf('/');
  if (memo !== undefined && cut > 0) {
    const known = memo.get(path.slice(0, cut));
    const name = path.slice(cut + 1);
    if (known !== undefined && nameProblem(name) === null && Buffer.byteLength(path) <= PATH_MAX) return { parent: known, name };
  }
  const { parent: pparts, name } = parentAndName(path);
  if (pparts.length === 0) throw new EngineError('NOT_PERMITTED', `${path} is an area; areas are not removed this way`);
  const parent = parentDir(view, pparts);
  // Only a path whose text ends with the name: its text before the last "/" splits to the parent's parts.
  if (memo !== undefined && cut > 0 && path.slice(cut + 1) === name) memo.set(path.slice(0, cut), parent);
  return { parent, name };
}

function existing(view: TreeView, id: NodeId) {
  const node = view.node(id);
  if (node === undefined || node.nlink === 0) throw new EngineError('NOT_FOUND', `no such node: ${id}`);
  return node;
}

/** A file's content may change while it is open after its last name went (nlink 0). */
function file(view: TreeView, id: NodeId) {
  const node = view.node(id);
  if (node === undefined) throw new EngineError('NOT_FOUND', `no such node: ${id}`);
  if (node.kind === 'dir') throw new EngineError('IS_A_DIRECTORY', 'is a directory');
  if (node.kind !== 'file') throw new EngineError('INVALID', 'not a regular file');
  return node;
}

/** Checks events as apply will check them: a bad one is refused before it is logged (apply would skip it). */
export function checkEvents(events: readonly FsEvent[]): void {
  for (const event of events) {
    try {
      validateEvent(event);
    } catch (err) {
      if (err instanceof LogError) throw new EngineError(err.code === 'NAME_TOO_LONG' ? 'NAME_TOO_LONG' : 'INVALID', err.message, { cause: err });
      throw err;
    }
  }
}

export function decide(view: TreeView, cmd: Command, ctx: DecideContext): Decision {
  const decision = decideUnchecked(view, cmd, ctx);
  checkEvents(decision.events);
  return decision;
}

function decideUnchecked(view: TreeView, cmd: Command, ctx: DecideContext): Decision {
  const time = ctx.now;
  switch (cmd.type) {
    case 'create':
    case 'mkdir':
    case 'symlink': {
      const { parent: pparts, name } = parentAndName(cmd.path);
      if (cmd.type === 'mkdir' && pparts.length === 0) {
        if (!validAreaName(name)) throw new EngineError('INVALID', `an area name is 1-64 of a-z, 0-9 and "-": ${JSON.stringify(name)}`);
        if (view.areaRoot(name) !== undefined) throw new EngineError('EXISTS', `area ${name} exists`);
        return { area: name, events: [{ type: 'area-create', area: name, root: ctx.newId(), mode: cmd.mode & 0o7777, uid: cmd.owner.uid, gid: cmd.owner.gid, time }] };
      }
      const parent = parentDir(view, pparts);
      if (view.child(parent.id, name) !== undefined) throw new EngineError('EXISTS', `${cmd.path} exists`);
      const id = ctx.newId();
      const base = { id, parent: parent.id, name, uid: cmd.owner.uid, gid: cmd.owner.gid, time };
      const event: FsEvent =
        cmd.type === 'symlink'
          ? { type: 'symlink', ...base, target: cmd.target }
          : { type: cmd.type, ...base, mode: cmd.mode & 0o7777 };
      return { area: parent.node.area, events: [event] };
    }
    case 'link': {
      const src = resolve(view, splitPath(cmd.path));
      if (src.node.kind === 'dir') throw new EngineError('NOT_PERMITTED', `${cmd.path} is a directory; directories cannot be hard-linked`);
      const { parent: pparts, name } = parentAndName(cmd.newPath);
      const parent = parentDir(view, pparts);
      if (parent.node.area !== src.node.area) throw new EngineError('CROSS_AREA', `${cmd.path} and ${cmd.newPath} are in different areas`);
      if (view.child(parent.id, name) !== undefined) throw new EngineError('EXISTS', `${cmd.newPath} exists`);
      return { area: parent.node.area, events: [{ type: 'link', id: src.id, parent: parent.id, name, time }] };
    }
    case 'unlink':
    case 'rmdir': {
      const { parent, name } = removalParent(view, cmd.path, ctx.parents);
      const id = view.child(parent.id, name);
      if (id === undefined) throw new EngineError('NOT_FOUND', `no such file or directory: ${cmd.path}`);
      const node = existing(view, id);
      if (cmd.type === 'unlink' && node.kind === 'dir') throw new EngineError('IS_A_DIRECTORY', `${cmd.path} is a directory`);
      if (cmd.type === 'rmdir') {
        if (node.kind !== 'dir') throw new EngineError('NOT_A_DIRECTORY', `${cmd.path} is not a directory`);
        if (view.hasChildren(id)) throw new EngineError('NOT_EMPTY', `${cmd.path} is not empty`);
      }
      return { area: node.area, events: [{ type: cmd.type, id, parent: parent.id, name, time }] };
    }
    case 'rename': {
      const from = parentAndName(cmd.from);
      const to = parentAndName(cmd.to);
      if (from.parent.length === 0 || to.parent.length === 0) throw new EngineError('NOT_PERMITTED', 'areas cannot be renamed');
      const fromParent = parentDir(view, from.parent);
      const id = view.child(fromParent.id, from.name);
      if (id === undefined) throw new EngineError('NOT_FOUND', `no such file or directory: ${cmd.from}`);
      const node = existing(view, id);
      const toParent = parentDir(view, to.parent);
      if (toParent.node.area !== node.area) throw new EngineError('CROSS_AREA', `${cmd.from} and ${cmd.to} are in different areas`);
      if (node.kind === 'dir' && view.isWithin(toParent.id, id)) {
        throw new EngineError('INVALID', `cannot move ${cmd.from} into its own subtree (${cmd.to})`);
      }
      const target = view.child(toParent.id, to.name);
      if (target !== undefined) {
        if (target === id) return NONE; // the same link, or another link to the same file: nothing to do
        const t = existing(view, target);
        if (t.kind === 'dir') {
          if (node.kind !== 'dir') throw new EngineError('IS_A_DIRECTORY', `${cmd.to} is a directory`);
          if (view.hasChildren(target)) throw new EngineError('NOT_EMPTY', `${cmd.to} is not empty`);
        } else if (node.kind === 'dir') {
          throw new EngineError('NOT_A_DIRECTORY', `${cmd.to} is not a directory`);
        }
      }
      return {
        area: node.area,
        events: [{ type: 'rename', id, parent: fromParent.id, name: from.name, newParent: toParent.id, newName: to.name, time }],
      };
    }
    case 'setattr': {
      const node = existing(view, cmd.id);
      const { type: _t, id, ...fields } = cmd;
      return { area: node.area, events: [{ type: 'setattr', id, ...fields, ...(fields.mode !== undefined ? { mode: fields.mode & 0o7777 } : {}), time }] };
    }
    case 'setxattr': {
      const node = existing(view, cmd.id);
      const have = view.xattr(cmd.id, cmd.name) !== undefined;
      if (cmd.flag === 'create' && have) throw new EngineError('EXISTS', `attribute ${cmd.name} exists`);
      if (cmd.flag === 'replace' && !have) throw new EngineError('NO_ATTRIBUTE', `no attribute ${cmd.name}`);
      return { area: node.area, events: [{ type: 'setxattr', id: cmd.id, name: cmd.name, value: cmd.value, time }] };
    }
    case 'removexattr': {
      const node = existing(view, cmd.id);
      if (view.xattr(cmd.id, cmd.name) === undefined) throw new EngineError('NO_ATTRIBUTE', `no attribute ${cmd.name}`);
      return { area: node.area, events: [{ type: 'removexattr', id: cmd.id, name: cmd.name, time }] };
    }
    case 'write': {
      const node = file(view, cmd.id);
      if (cmd.blocks.length === 0) return NONE;
      const events: FsEvent[] = [{ type: 'write', id: cmd.id, size: cmd.size, blocks: cmd.blocks, time }];
      if (cmd.commit === true) events.push({ type: 'commit', id: cmd.id, time });
      const a = cmd.attrs;
      if (a !== undefined && (a.mode !== undefined || a.uid !== undefined || a.gid !== undefined || a.atime !== undefined || a.mtime !== undefined)) {
        events.push({ type: 'setattr', id: cmd.id, ...a, ...(a.mode !== undefined ? { mode: a.mode & 0o7777 } : {}), time });
      }
      return { area: node.area, events };
    }
    case 'truncate': {
      const node = file(view, cmd.id);
      return { area: node.area, events: [{ type: 'truncate', id: cmd.id, size: cmd.size, tail: cmd.tail, time }] };
    }
    case 'commit': {
      const node = file(view, cmd.id);
      return { area: node.area, events: [{ type: 'commit', id: cmd.id, time }] };
    }
    default: {
      const never: never = cmd;
      throw new EngineError('INVALID', `unknown command ${JSON.stringify(never)}`);
    }
  }
}

export { resolveMaybe };
