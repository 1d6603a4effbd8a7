/**
 * End to end: two stores, each served by a real mount in its own child process, in one
 * household over loopback. A file written in one mount appears, with the same bytes, in the
 * other; and back. The test process only reads and writes through fs/promises.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import t from 'tap';
import { run, sleep } from '../mount/helpers/proc.js';
import { MountServer, REALIZE, scratch, type Scratch } from '../mount/helpers/server.js';
import { existsSync } from 'node:fs';

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing');
} else {
  t.setTimeout(120_000);

  const freePort = (): Promise<number> =>
    new Promise((res, rej) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const port = (srv.address() as { port: number }).port;
        srv.close(() => res(port));
      });
      srv.on('error', rej);
    });

  const realize = async (store: string, ...args: string[]): Promise<string> => {
    const r = await run(process.execPath, [REALIZE, '--store', store, ...args]);
    if (r.code !== 0) throw new Error(`realize ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  };

  /** Polls until `path` holds `want`, or fails after `ms`. */
  const appears = async (path: string, want: Buffer, ms = 40_000): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const got = await readFile(path).catch(() => null);
      if (got !== null && got.equals(want)) return true;
      await sleep(200);
    }
    return false;
  };

  t.test('a file written in one mount appears in the other, byte for byte, and back', async (t) => {
    const a: Scratch = await scratch('pair-a');
    const b: Scratch = await scratch('pair-b');
    const servers: MountServer[] = [];
    t.teardown(async () => {
      for (const s of servers) await s.stop();
      await a.remove();
      await b.remove();
    });
    await realize(a.store, 'init');
    await realize(b.store, 'init');
    const keyA = JSON.parse(await realize(a.store, '--json', 'id')).id as string;
    const keyB = JSON.parse(await realize(b.store, '--json', 'id')).id as string;
    const [portA, portB] = [await freePort(), await freePort()];
    await realize(a.store, 'peer', 'add', 'b', keyB, '--address', `127.0.0.1:${portB}`);
    await realize(b.store, 'peer', 'add', 'a', keyA, '--address', `127.0.0.1:${portA}`);
    await realize(a.store, 'area', 'create', 'home');
    await realize(b.store, 'area', 'follow', 'home');
    servers.push(await MountServer.start(a.store, a.mnt, { extraArgs: ['--listen', `127.0.0.1:${portA}`], attrTimeout: 0 }));
    servers.push(await MountServer.start(b.store, b.mnt, { extraArgs: ['--listen', `127.0.0.1:${portB}`], attrTimeout: 0 }));

    const one = randomBytes(300_000); // more than two blocks
    await writeFile(`${a.mnt}/home/from-a.bin`, one);
    t.ok(await appears(`${b.mnt}/home/from-a.bin`, one), 'A\'s file is in B\'s mount with the same bytes');

    const two = randomBytes(5_000);
    await writeFile(`${b.mnt}/home/from-b.txt`, two);
    t.ok(await appears(`${a.mnt}/home/from-b.txt`, two), 'B\'s file is in A\'s mount with the same bytes');

    // An edit of one byte travels too.
    const edited = Buffer.from(one);
    edited[150_000] ^= 0xff;
    await writeFile(`${a.mnt}/home/from-a.bin`, edited);
    t.ok(await appears(`${b.mnt}/home/from-a.bin`, edited), 'an edit in A reaches B');
  });
}
