/**
 * Paths inside a store: "/" is the root that lists the areas, "/area/a/b" a node inside an
 * area. Components are validated: empty ones (from "//" or a trailing "/") are dropped,
 * "." and ".." and NUL are refused with a clear error, as is any over-long name.
 */
import { nameProblem, NAME_MAX, PATH_MAX } from '../log/index.js';
import { EngineError } from './engine-error.js';

export function splitPath(path: string): string[] {
  if (typeof path !== 'string') throw new EngineError('INVALID', 'a path must be a string');
  if (Buffer.byteLength(path) > PATH_MAX) throw new EngineError('NAME_TOO_LONG', `path is longer than ${PATH_MAX} bytes`);
  const parts = path.split('/').filter((p) => p.length > 0);
  for (const p of parts) {
    const problem = nameProblem(p);
    if (problem !== null) {
      throw new EngineError(Buffer.byteLength(p) > NAME_MAX ? 'NAME_TOO_LONG' : 'INVALID', `bad path ${JSON.stringify(path)}: ${problem}`);
    }
  }
  return parts;
}

export function joinPath(parts: readonly string[]): string {
  return `/${parts.join('/')}`;
}

/** The parent's components and the last name; the root has no parent. */
export function parentAndName(path: string): { parent: string[]; name: string } {
  const parts = splitPath(path);
  const name = parts.pop();
  if (name === undefined) throw new EngineError('INVALID', 'the root has no parent and no name');
  return { parent: parts, name };
}
