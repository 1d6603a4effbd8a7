/**
 * Attributes under `user.realize.` that are not stored but computed, so users can inspect a
 * file with getfattr: its content hash, its version, its id and its placement. The placement
 * can also be set (setfattr -n user.realize.placement -v real|unreal): it marks the path.
 */
import type { Snapshot } from '../engine/index.js';

export const VIRTUAL_PREFIX = 'user.realize.';
export const VIRTUAL_NAMES = ['user.realize.id', 'user.realize.hash', 'user.realize.version', 'user.realize.placement'] as const;

export function isVirtual(name: string): boolean {
  return name.startsWith(VIRTUAL_PREFIX);
}

/**
 * The value of a virtual attribute, or undefined when the node has no such attribute.
 * `placement` says this peer's placement of a node (engine/placement), Real when not given.
 */
export function virtualXattr(engine: Snapshot, id: string, name: string, placement?: (id: string) => string): Buffer | undefined {
  const content = engine.contentState(id);
  switch (name) {
    case 'user.realize.id':
      return Buffer.from(id);
    case 'user.realize.hash':
      return content ? Buffer.from(Buffer.from(content.hash).toString('hex')) : undefined;
    case 'user.realize.version':
      return content ? Buffer.from(`${content.commits}${content.pending > 0 ? `+${content.pending}` : ''}`) : undefined;
    case 'user.realize.placement':
      return Buffer.from(placement?.(id) ?? 'real');
    default:
      return undefined;
  }
}

export function virtualNames(engine: Snapshot, id: string): string[] {
  return VIRTUAL_NAMES.filter((n) => virtualXattr(engine, id, n) !== undefined);
}

/** The one virtual attribute that can be set: this peer's placement of the node (real or unreal). */
export const PLACEMENT_XATTR = 'user.realize.placement';
