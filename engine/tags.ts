/**
 * Named positions (`realize tag NAME [POSITION]`), kept in the store as tags.json: each tag
 * names the entry it stands after (feed and sequence number), which stays true whatever
 * order entries are applied in later.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EngineError } from './engine-error.js';
import { validTagName } from './position.js';

export interface TagTarget {
  /** Empty for a tag before the first entry. */
  readonly feed: string;
  readonly seq: number;
}

export type Tags = Record<string, TagTarget>;

export function tagsPath(storeRoot: string): string {
  return join(storeRoot, 'tags.json');
}

export async function readTags(storeRoot: string): Promise<Tags> {
  try {
    const parsed = JSON.parse(await readFile(tagsPath(storeRoot), 'utf8')) as unknown;
    if (parsed === null || typeof parsed !== 'object') throw new Error('not an object');
    return parsed as Tags;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new EngineError('IO', `${tagsPath(storeRoot)} is damaged: ${(err as Error).message}`);
  }
}

export async function writeTag(storeRoot: string, name: string, target: TagTarget): Promise<void> {
  if (!validTagName(name)) throw new EngineError('BAD_ARGUMENT', `a tag name starts with a letter and holds letters, digits, ".", "_" and "-": ${JSON.stringify(name)}`);
  const tags = await readTags(storeRoot);
  tags[name] = target;
  const tmp = `${tagsPath(storeRoot)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(tags, null, 2)}\n`);
  await rename(tmp, tagsPath(storeRoot));
}
