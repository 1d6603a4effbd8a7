/** The one error type of mount/. */
import { CodedError } from '../log/index.js';

export type MountErrorCode = 'BUSY' | 'MOUNT_FAILED' | 'NOT_MOUNTED';

export class MountError extends CodedError<MountErrorCode> {}
