/**
 * Attributes under `user.realize.` that are not stored but computed, so users can inspect a
 * file with getfattr: its content hash, its version, its id and its placement.
 */
import type { Snapshot } from '../engine/index.js';

export const VIRTUAL_PREFIX = 'user.realize.';
export const VIRTUAL_NAMES = ['user.realize.id', 'user.realize.hash', 'user.realize.version', 'user.realize.placement'] as const;

export function isVirtual(name: string): boolean {
  return name.startsWith(VIRTUAL_PREFIX);
}

/** The value of a virtual attribute, or undefined when the node has no such attribute. */
export function virtualXattr(engine: Snapshot, id: string, name: string): Buffer | undefined {
  const content = engine.contentState(id);
  switch (name) {
    case 'user.realize.id':
      return Buffer.from(id);
    case 'user.realize.hash':
      return content ? Buffer.from(Buffer.from(content.hash).toString('hex')) : undefined;
    case 'user.realize.version':
      return content ? Buffer.from(`${content.commits}${content.pending > 0 ? `+${content.pending}` : ''}`) : undefined;
    case 'user.realize.placement':
      return Buffer.from('real');
    default:
      return undefined;
  }
}

export function virtualNames(engine: Snapshot, id: string): string[] {
  return VIRTUAL_NAMES.filter((n) => virtualXattr(engine, id, n) !== undefined);
}
