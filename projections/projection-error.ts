/** The one error type of projections/. */
import { CodedError } from '../log/index.js';

export type ProjectionErrorCode = 'NOT_FOUND' | 'CORRUPT' | 'BEHIND' | 'READ_ONLY';

export class ProjectionError extends CodedError<ProjectionErrorCode> {}
