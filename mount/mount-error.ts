/** The one error type of mount/. */
export type MountErrorCode = 'BUSY' | 'MOUNT_FAILED' | 'NOT_MOUNTED';

export class MountError extends Error {
  readonly code: MountErrorCode;
  constructor(code: MountErrorCode, message: string) {
    super(message);
    this.name = 'MountError';
    this.code = code;
  }
}
