/** The one error type of projections/. */
export type ProjectionErrorCode = 'NOT_FOUND' | 'CORRUPT' | 'BEHIND' | 'READ_ONLY';

export class ProjectionError extends Error {
  readonly code: ProjectionErrorCode;
  constructor(code: ProjectionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProjectionError';
    this.code = code;
  }
}
