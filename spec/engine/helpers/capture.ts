/** A writable stream that keeps what is written (for the CLI's stdout and stderr). */
import { Writable } from 'node:stream';

export interface Capture extends Writable {
  text(): string;
  bytes(): Buffer;
  isTTY?: boolean;
}

export function capture(opts: { tty?: boolean } = {}): Capture {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      cb();
    },
  }) as Capture;
  w.text = () => Buffer.concat(chunks).toString('utf8');
  w.bytes = () => Buffer.concat(chunks);
  if (opts.tty) w.isTTY = true;
  return w;
}
