/** engine/: the store, commands -> events, block store, queries. Imports log/ and projections/. */
export { EngineError, type EngineErrorCode } from './engine-error.js';
export { storeLayout, defaultStorePath, type StoreLayout } from './store-layout.js';
export { Store, initStore, type StoreEnv, type OpenOptions } from './store.js';
export { verifyStore, type VerifyProgress, type VerifyReport } from './verify.js';
export { Engine, type EngineOptions, type DirEntry } from './engine.js';
export { type NodeInfo } from './node-info.js';
export { type Command, type Owner } from './commands.js';
export { decide, type Decision, type DecideContext } from './decide.js';
export { type TreeView, ROOT_NODE } from './tree-view.js';
export { splitPath, joinPath } from './fs-path.js';
export { importTree, type ImportProgress, type ImportResult } from './import-tree.js';
export { exportTree, type ExportProgress } from './export-tree.js';
export { collectGarbage, liveBlocks, type Retention, type GcResult } from './gc.js';
export { replayCheck, type ReplayCheck, type ProjectionComparison } from './replay-check.js';
export { BlockStore } from './block-store.js';
export { WriteCache, type WriteCacheOptions } from './write-cache.js';
export type { NodeId } from '../log/index.js';
