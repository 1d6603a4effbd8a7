/**
 * An unlink or rmdir names what it changed in the FUSE threads' attribute cache (the patch's
 * fuse_native_attr_changed) instead of letting the cache forget everything: the removed path
 * and its parent's old attributes leave it, the parent's new attributes enter it, and every
 * other cached path stays. rm -rf then finds each next name's lookup, and the getattr of the
 * directory the kernel makes after each unlink (its attributes changed), answered on the FUSE
 * threads instead of two round trips through JS a file.
 *
 * The engine tells the mount of every change it applies (Engine.headChanged), which forgets the
 * whole cache; while a removal's own entry is applied, that is held back (`quiet`), since the
 * removal's answer names what changed. A change the removal cannot name by path (a hard link's
 * other names change with it: nlink, ctime) is not targeted: the cache is forgotten as before.
 */
import type Fuse from 'fuse-native';
import type { StatFields } from '../engine/index.js';
import { packStat, STAT_DOUBLES } from './attr.js';

export class AttrChanges {
  #quiet = 0;

  /** Whether a change applied now is one a removal names itself (the whole cache stays). */
  get quiet(): boolean {
    return this.#quiet > 0;
  }

  /** Runs `fn` (which applies a removal's entry synchronously) with headChanged's forgetting held back. */
  run<T>(fn: () => T): T {
    this.#quiet++;
    try {
      return fn();
    } finally {
      this.#quiet--;
    }
  }
}

/**
 * What removing `path` changed: the path leaves the cache, and its parent's attributes are
 * `parent` (its new ones), or leave too when not given (the root and the areas are never
 * cached: their attributes are answered by JS).
 */
export function removalChanges(path: string, parent: StatFields | undefined): Fuse.AttrChanges {
  const cut = path.lastIndexOf('/');
  const dir = cut <= 0 ? '/' : path.slice(0, cut);
  if (parent === undefined || dir.lastIndexOf('/') <= 0) return { drop: `${path}\0${dir}\0`, fill: '', stats: new Float64Array(0) };
  const stats = new Float64Array(STAT_DOUBLES);
  packStat(stats, 0, parent);
  return { drop: `${path}\0`, fill: `${dir}\0`, stats };
}
