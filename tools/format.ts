/** Small formatting helpers for human output. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function formatMode(kind: string, mode: number): string {
  const t = kind === 'dir' ? 'd' : kind === 'symlink' ? 'l' : '-';
  const rwx = (m: number): string => `${m & 4 ? 'r' : '-'}${m & 2 ? 'w' : '-'}${m & 1 ? 'x' : '-'}`;
  return `${t}${rwx(mode >> 6)}${rwx(mode >> 3)}${rwx(mode)}`;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
