/** `realize famfs cp SRC DEST`: a regular file into a famfs area, its bytes written straight into the device. */
import { open } from 'node:fs/promises';
import type { Extent } from '../../log/index.js';
import { EngineError } from '../engine-error.js';
import type { FamfsIo } from './io.js';

const CHUNK = 8 * 1024 * 1024;

export interface CopiedIn {
  readonly src: string;
  readonly dest: string;
  readonly bytes: number;
  readonly extents: readonly Extent[];
}

/** Copies `src` to the new file `dest` through `io` (the one of the process that holds the store). */
export async function copyIntoFamfs(io: FamfsIo, src: string, dest: string, onProgress?: (p: { bytes: number }) => void): Promise<CopiedIn> {
  const engine = io.engine;
  const fh = await open(src, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new EngineError('NOT_FOUND', `cannot read ${src}: ${err.code ?? err.message}`);
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new EngineError('INVALID', `${src} is not a regular file`);
    await engine.run({ type: 'create', path: dest, mode: st.mode & 0o7777, owner: { uid: st.uid, gid: st.gid } });
    const info = engine.stat(dest);
    if (!io.isFamfs(info.id)) throw new EngineError('INVALID', `${dest} is not in a famfs area (add a device with \`realize famfs add AREA DEVICE\`)`);
    const buf = Buffer.alloc(CHUNK);
    let offset = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, offset);
      if (bytesRead === 0) break;
      await io.write(info.id, offset, buf.subarray(0, bytesRead));
      offset += bytesRead;
      onProgress?.({ bytes: offset });
    }
    await engine.commit(info.id);
    return { src, dest, bytes: offset, extents: engine.projections.famfs.extents(info.id) ?? [] };
  } finally {
    await fh.close();
  }
}
