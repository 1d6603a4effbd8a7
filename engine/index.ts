/** engine/: the store, commands -> events, queries. Imports log/ and projections/. */
export { EngineError, type EngineErrorCode } from './engine-error.js';
export { storeLayout, defaultStorePath, type StoreLayout } from './store-layout.js';
export { Store, initStore, type StoreEnv, type OpenOptions } from './store.js';
export { verifyStore, type VerifyProgress, type VerifyReport } from './verify.js';
