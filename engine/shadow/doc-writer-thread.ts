/**
 * The code of the thread that writes shadow documents (doc-writer.ts), as plain JavaScript
 * evaluated by `new Worker(..., { eval: true })`: it needs nothing but node:fs, so it loads in
 * a few milliseconds and without the TypeScript loader.
 *
 * Why a thread doing synchronous calls: a document is ~350 bytes, so writing one is all
 * system-call overhead. Through fs/promises each file costs three round trips through
 * libuv's pool (open, write, close), and with a busy machine most of the replay was spent
 * waiting for those hand-offs; the same calls made synchronously, one after another, are
 * several times faster. Made in a thread of their own they also leave the main thread free
 * to render the next documents, and never block its event loop (so replaying into a
 * directory this process itself serves through FUSE cannot hang).
 *
 * Message in: { seq, ops: [kind, path, text, tmp] } with kind
 *   0 "new":     create `path` (O_EXCL, O_NOFOLLOW) and write the text;
 *   1 "compare": `path` holds a file: leave it when it holds exactly these bytes, else
 *                replace it (write `tmp`, rename over `path`);
 *   2 "replace": write `tmp`, rename over `path` (what stood there is not followed).
 * Message out: { seq, written, unchanged, bytes } or { seq, error: { message, code, path } }.
 */
export const DOC_WRITER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const C = fs.constants;
const NEW_FILE = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
const READ_NOFOLLOW = C.O_RDONLY | C.O_NOFOLLOW;

function writeNew(path, buf) {
  const fd = fs.openSync(path, NEW_FILE, 0o644);
  try {
    let off = 0;
    while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
  } finally {
    fs.closeSync(fd);
  }
}

function sameBytes(path, buf) {
  let fd;
  try {
    fd = fs.openSync(path, READ_NOFOLLOW);
  } catch (err) {
    if (err.code === 'ELOOP' || err.code === 'ENOENT') return false;
    throw err;
  }
  try {
    if (fs.fstatSync(fd).size !== buf.length) return false;
    const old = Buffer.allocUnsafe(buf.length);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, old, off, buf.length - off, off);
      if (n === 0) return false;
      off += n;
    }
    return old.equals(buf);
  } finally {
    fs.closeSync(fd);
  }
}

parentPort.on('message', (msg) => {
  let written = 0;
  let unchanged = 0;
  let bytes = 0;
  let at = '';
  try {
    for (const [kind, path, text, tmp] of msg.ops) {
      at = path;
      const buf = Buffer.from(text, 'utf8');
      if (kind === 0) {
        writeNew(path, buf);
      } else {
        if (kind === 1 && sameBytes(path, buf)) {
          unchanged++;
          continue;
        }
        at = tmp;
        writeNew(tmp, buf);
        fs.renameSync(tmp, path);
      }
      written++;
      bytes += buf.length;
    }
    parentPort.postMessage({ seq: msg.seq, written, unchanged, bytes });
  } catch (err) {
    parentPort.postMessage({ seq: msg.seq, written, unchanged, bytes, error: { message: String(err && err.message), code: err && err.code, path: at } });
  }
});
`;
