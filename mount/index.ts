/** mount/: the fuse-native adapter (op table, fd table, errno mapping). Imports engine/ only. */
export { Mount, type MountOptions } from './mount.js';
export { MountError, type MountErrorCode } from './mount-error.js';
export { unmountPath, isFuseMounted, probeMount } from './mount-table.js';
export { ShadowMount, makeShadowOps, shadowTarget, renderDoc, type ShadowMountOptions } from './shadow-mount.js';
