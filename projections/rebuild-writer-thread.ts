/**
 * The code of the thread that writes scratch rebuilds' rows (rebuild-writer.ts), as plain
 * JavaScript evaluated by `new Worker(..., { eval: true })`: it needs nothing but lmdb-js
 * (its CommonJS build, by the path the main thread resolved), so it loads without the
 * TypeScript loader. One thread serves every rebuild of the process, one after another or
 * together, each over its own environment (started once: loading lmdb-js costs it ~90 ms).
 *
 * For each rebuild it opens the environment (lmdb-js shares one native environment between the
 * threads of a process) and every sub-database it is told of, keyed as the main thread keys
 * it (lmdb-js compares its own ordered keys its own way), with binary values: the main thread
 * sends each batch's rows already encoded, in the sub-database's own key and value bytes.
 *
 * Messages in:
 *   { open: id, path, names: [{ name, bufferKeys }], maxDbs, mapSize, state } (state: a
 *     SharedArrayBuffer: two Int32 counters, then bytes for an error message);
 *   { id, gen, buf, length }, buf an ArrayBuffer (transferred) of records
 *     [sub-database index u8][op u8: 0 put, 1 put at the end (append), 2 remove]
 *     [key length u16 LE][value length u32 LE][key][value]
 *     written in one transaction; then state[0] = gen, notified (the main thread waits on it
 *     with Atomics.wait, never through a message: it does not turn its event loop while it applies);
 *   { close: id }: the environment closed, then { closed: id } posted.
 * On a failure: state[1] = 1 and the error's message in the bytes after the two counters
 * (UTF-8, cut at their end), then state[0] = gen; that rebuild's later batches are not written.
 */
export const REBUILD_WRITER_SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { open } = require(workerData.lmdb);
const rebuilds = new Map();

function fail(r, err) {
  r.failed = true;
  const text = new Uint8Array(r.shared, 8);
  text.fill(0);
  Buffer.from(String((err && err.message) || err)).copy(text, 0, 0, text.length);
  Atomics.store(r.state, 1, 1);
}

function write(r, msg) {
  const dbs = r.dbs;
  const b = Buffer.from(msg.buf, 0, msg.length);
  r.env.transactionSync(() => {
    let at = 0;
    while (at < b.length) {
      const db = dbs[b[at]];
      const op = b[at + 1];
      const kl = b.readUInt16LE(at + 2);
      const vl = b.readUInt32LE(at + 4);
      const key = b.subarray(at + 8, at + 8 + kl);
      const value = b.subarray(at + 8 + kl, at + 8 + kl + vl);
      at += 8 + kl + vl;
      if (op === 2) db.removeSync(key);
      else if (op === 0 || !db.putSync(key, value, { append: true })) db.putSync(key, value);
    }
  });
}

parentPort.on('message', (msg) => {
  if (msg.open !== undefined) {
    const r = { shared: msg.state, state: new Int32Array(msg.state, 0, 2), failed: false, env: null, dbs: [] };
    rebuilds.set(msg.open, r);
    try {
      r.env = open({ path: msg.path, noSync: true, maxDbs: msg.maxDbs, mapSize: msg.mapSize, remapChunks: false });
      r.dbs = msg.names.map(({ name, bufferKeys }) => r.env.openDB(bufferKeys ? { name, keyEncoding: 'binary', encoding: 'binary' } : { name, encoding: 'binary' }));
    } catch (err) {
      fail(r, err);
    }
    return;
  }
  if (msg.close !== undefined) {
    const r = rebuilds.get(msg.close);
    rebuilds.delete(msg.close);
    const done = () => parentPort.postMessage({ closed: msg.close });
    if (r === undefined || r.env === null) done();
    else r.env.close().then(done, done);
    return;
  }
  const r = rebuilds.get(msg.id);
  if (r === undefined) return;
  if (!r.failed) {
    try {
      write(r, msg);
    } catch (err) {
      fail(r, err);
    }
  }
  Atomics.store(r.state, 0, msg.gen);
  Atomics.notify(r.state, 0);
});
`;
