/**
 * engine/placement/: Real and Unreal. Per peer and per path, content is Real (complete here,
 * pinned) or Unreal (metadata here, content fetched on demand into an evictable cache).
 * Imports log/, projections/, engine/ and engine/sync/.
 */
export { PlacementError, type PlacementErrorCode } from './placement-error.js';
export { DEFAULT_PLACEMENT, placementOf, PlacementResolver, type Resolution } from './resolve.js';
export { markNode, markPath, parsePlacement, type MarkResult } from './mark.js';
export { rowPresence, sumPresence, distinctBlocks, filesUnder, presenceLabel, EMPTY_PRESENCE, type ContentPresence, type Presence } from './presence.js';
export {
  readSettings,
  writeSettings,
  parseSize,
  formatBytes,
  reserveFor,
  placementDir,
  settingsPath,
  DEFAULT_CACHE_BYTES,
  DEFAULT_FETCH_TIMEOUT_MS,
  DEFAULT_SETTINGS,
  type CacheSettings,
} from './config.js';
export { Fetcher, type BlockSource, type FetchKind, type FetchOutcome } from './fetcher.js';
export { Readahead } from './readahead.js';
export { planEviction, evictBlocks, type CacheBlock, type EvictionPlan } from './eviction.js';
export { scanProtection, type ProtectReason, type ProtectionScan } from './protection.js';
export { ContentCache, diskOf, type DiskSpace, type EnforceReport } from './cache.js';
export { Realizer, type RealizeProgress } from './realizer.js';
export { UnavailableLog, readUnavailable, type Unavailable } from './unavailable.js';
export { viewFromStore, viewOfHost, followersOf, type PeerView, type PeerViewHost } from './peer-view.js';
export { pathStatus, statusContext, pathOf, type PathStatus, type FileProblem, type StatusContext } from './status.js';
export { PlacementService, type BlockContext, type PlacementOptions } from './service.js';
