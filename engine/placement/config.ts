/**
 * This peer's cache settings, a local file never replicated: `<store>/placement/cache.json`.
 *
 *   sizeBytes       the cache budget: bytes of evictable (unpinned) blocks kept (default 10 GiB)
 *   reserveBytes    free disk space kept for Real content: when the disk's free space falls
 *                   below it, the cache shrinks to give it back (Real wins; default: 5% of the
 *                   disk, at most 2 GiB)
 *   fetchTimeoutMs  how long a read waits for peers before it fails with EIO (default 3000)
 *
 * `realize cache --size 10G` writes sizeBytes; a running serve or mount rereads the file.
 */
import { join } from 'node:path';
import { readJson, writeJson } from '../sync/json-file.js';
import { PlacementError } from './placement-error.js';

export interface CacheSettings {
  readonly sizeBytes: number;
  readonly reserveBytes: number | null;
  readonly fetchTimeoutMs: number;
}

export const DEFAULT_CACHE_BYTES = 10 * 1024 ** 3;
export const DEFAULT_FETCH_TIMEOUT_MS = 3000;
export const MAX_DEFAULT_RESERVE = 2 * 1024 ** 3;

export const DEFAULT_SETTINGS: CacheSettings = { sizeBytes: DEFAULT_CACHE_BYTES, reserveBytes: null, fetchTimeoutMs: DEFAULT_FETCH_TIMEOUT_MS };

export function placementDir(storeRoot: string): string {
  return join(storeRoot, 'placement');
}

export function settingsPath(storeRoot: string): string {
  return join(placementDir(storeRoot), 'cache.json');
}

function okBytes(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export async function readSettings(storeRoot: string): Promise<CacheSettings> {
  const raw = await readJson<Partial<Record<keyof CacheSettings, unknown>>>(settingsPath(storeRoot), {});
  return {
    sizeBytes: okBytes(raw.sizeBytes) ? raw.sizeBytes : DEFAULT_SETTINGS.sizeBytes,
    reserveBytes: okBytes(raw.reserveBytes) ? raw.reserveBytes : null,
    fetchTimeoutMs: okBytes(raw.fetchTimeoutMs) && raw.fetchTimeoutMs > 0 ? raw.fetchTimeoutMs : DEFAULT_SETTINGS.fetchTimeoutMs,
  };
}

export async function writeSettings(storeRoot: string, change: Partial<CacheSettings>): Promise<CacheSettings> {
  const now = await readSettings(storeRoot);
  const next: CacheSettings = { ...now, ...change };
  await writeJson(settingsPath(storeRoot), next);
  return next;
}

/** The free disk space kept for Real content on a disk of `diskBytes`. */
export function reserveFor(settings: CacheSettings, diskBytes: number): number {
  return settings.reserveBytes ?? Math.min(MAX_DEFAULT_RESERVE, Math.floor(diskBytes * 0.05));
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "10G", "512M", "1.5g", "4096", "10GiB", "10GB" (binary units: K = 1024) -> bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (m === null) throw new PlacementError('BAD_ARGUMENT', `a size is a number with an optional unit K, M, G or T (e.g. 10G), not ${JSON.stringify(text)}`);
  const bytes = Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) throw new PlacementError('BAD_ARGUMENT', `${text} is too large`);
  return bytes;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
