/** projections/: one file per projection; the single owner of the LMDB environment. Imports log/ only. */
export { ProjectionError, type ProjectionErrorCode } from './projection-error.js';
export { ProjectionSet, type SkippedEvent } from './projection-set.js';
export { BlockIndex, type BlockLocation } from './block-index.js';
export { type FeedPosition } from './checkpoint.js';
export { ROOT_ID, ROOT_INO, type InodeRow } from './inode-table.js';
export { type NodeRecord, type NodeKind, type Dirent, type NodeStatRow } from './tree.js';
export { blockAt, blockCount, splitBlocks, versionHash, type ContentRow, type VersionRow, type HistoryRow } from './content.js';
export { type Projection, type ApplyContext } from './projection.js';
export { catchUp, integrate, rebuild, projectionsAhead, type RebuildOptions, type ReplayProgress } from './replay.js';
export { Positions, type PositionRow } from './positions.js';
export { VersionHistory, type HistoryReader } from './history.js';
export { Famfs, FAMFS_UNIT, deviceSpan, unitsFor, type FamfsDeviceRow, type FreeRange } from './famfs.js';
export { ConflictCopies, type ConflictRow } from './conflict-copies.js';
export { Placements, CacheTable, ServedTable } from './placement.js';
export { LISTING_EVERY } from './dir-listings.js';
