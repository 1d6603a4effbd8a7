/**
 * What an unlink or rmdir hands the addon's attribute cache (mount/attr-changes.ts): the
 * removed path leaves it, its parent's new attributes enter it (in the addon's packed layout),
 * or the parent leaves too when it is the root or an area (never cached); and the engine's
 * change notices are held back only while a removal's own entry is applied.
 */
import t from 'tap';
import { packStat, STAT_DOUBLES } from '../../mount/attr.js';
import { AttrChanges, removalChanges } from '../../mount/attr-changes.js';
import type { StatFields } from '../../engine/index.js';

const DIR: StatFields = { kind: 'dir', mode: 0o755, uid: 1, gid: 2, size: 0, nlink: 3, ino: 42, atime: 1_000, mtime: 2_500, ctime: 3_750 };

t.test('a removal in a directory: the path leaves, the parent comes back with its new attributes', async (t) => {
  const c = removalChanges('/home/d/f', DIR);
  t.equal(c.drop, '/home/d/f\0');
  t.equal(c.fill, '/home/d\0');
  const want = new Float64Array(STAT_DOUBLES);
  packStat(want, 0, DIR);
  t.same([...c.stats], [...want], "the parent's attributes, packed as a getattr answers");
});

t.test('the root, an area, or a parent not found: both leave, nothing enters', async (t) => {
  for (const [path, parent] of [['/home', DIR], ['/home/f', DIR], ['/home/d/f', undefined]] as const) {
    const c = removalChanges(path, parent);
    const dir = path.slice(0, path.lastIndexOf('/')) || '/';
    t.equal(c.drop, `${path}\0${dir}\0`, path);
    t.equal(c.fill, '', path);
    t.equal(c.stats.length, 0, path);
  }
});

t.test('quiet only while a removal applies, nested or not, and after a throw', async (t) => {
  const changes = new AttrChanges();
  t.notOk(changes.quiet);
  t.equal(changes.run(() => changes.run(() => changes.quiet)), true);
  t.notOk(changes.quiet);
  t.throws(() => changes.run(() => {
    throw new Error('refused');
  }));
  t.notOk(changes.quiet, 'a failed removal holds nothing back');
});
