/** `realize famfs cp SRC DEST`: a regular file into a famfs area, its bytes written straight into the device. */
import { open } from 'node:fs/promises';
import type { Command } from 'commander';
import { EngineError, FamfsIo } from '../../engine/index.js';
import type { Cli } from '../cli-context.js';
import { formatBytes } from '../format.js';
import { withEngine } from '../with-engine.js';

const CHUNK = 8 * 1024 * 1024;

export function register(famfs: Command, cli: Cli): void {
  famfs
    .command('cp')
    .description('copy a regular file into a famfs area (DEST must not exist; its area must have a device)')
    .argument('<src>', 'a regular file')
    .argument('<dest>', 'the new file, e.g. /area/dir/name')
    .action(async (src: string, dest: string, _opts: unknown, cmd: Command) => {
      await withEngine(cli, cmd, {}, async (engine) => {
        const fh = await open(src, 'r');
        const io = new FamfsIo(engine);
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
            cli.progress(cmd, `copying ${src}: ${formatBytes(offset)}`);
          }
          await engine.commit(info.id);
          cli.progressDone(cmd);
          const extents = engine.projections.famfs.extents(info.id) ?? [];
          cli.report(cmd, `copied ${src} to ${dest}: ${formatBytes(offset)} in ${extents.length} extents`, { src, dest, bytes: offset, extents });
        } finally {
          await io.close();
          await fh.close();
        }
      });
    });
}
