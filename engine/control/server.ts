/**
 * The control socket of the process that holds a store (a mount, `realize serve`): other
 * `realize` processes send it the writing commands they cannot run themselves while the store
 * is locked (engine/control/ops.ts). The socket is the owner's alone (mode 0600); a socket
 * left by a crashed writer is replaced, since whoever starts this holds the store lock.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { Engine } from '../engine.js';
import { ControlError } from './control-error.js';
import { CONTROL_OPS, isControlOp, type OpContext } from './ops.js';
import { decodeRequest, encodeLine, errorInfo, MAX_LINE_BYTES, type ControlResponse } from './protocol.js';
import { controlSocketPath } from './socket-path.js';

export interface ControlServerOptions {
  /** One line per command run for another process (what, and how it ended). */
  readonly log?: (line: string) => void;
  /** The holder's own resources, lent to the operations (engine/control/ops.ts). */
  readonly context?: Omit<OpContext, 'progress'>;
}

/** Progress lines of one operation are sent at most this often. */
const PROGRESS_EVERY_MS = 100;

export class ControlServer {
  readonly path: string;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  static async start(engine: Engine, opts: ControlServerOptions = {}): Promise<ControlServer> {
    const path = controlSocketPath(engine.store.layout.root);
    await unlink(path).catch(() => undefined);
    const server = createServer();
    const cs = new ControlServer(path, server);
    server.on('connection', (s) => cs.#serve(engine, s, opts));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600);
    return cs;
  }

  #serve(engine: Engine, socket: Socket, opts: ControlServerOptions): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (Buffer.byteLength(buffered) > MAX_LINE_BYTES && !buffered.includes('\n')) {
        socket.end(encodeLine({ id: 0, ok: false, error: errorInfo(new ControlError('PROTOCOL', `a request longer than ${MAX_LINE_BYTES} bytes`)) }));
        return;
      }
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        void this.#answer(engine, line, opts, socket).then((r) => {
          if (!socket.destroyed) socket.write(encodeLine(r));
        });
      }
    });
  }

  async #answer(engine: Engine, line: string, opts: ControlServerOptions, socket: Socket): Promise<ControlResponse> {
    let id = 0;
    try {
      const req = decodeRequest(line);
      id = req.id;
      if (!isControlOp(req.op)) throw new ControlError('UNKNOWN_OP', `this realize does not know the control operation ${JSON.stringify(req.op)}`);
      let last = 0;
      const progress = (p: unknown): void => {
        const now = performance.now();
        if (now - last < PROGRESS_EVERY_MS || socket.destroyed) return;
        last = now;
        socket.write(encodeLine({ id: req.id, progress: p }));
      };
      const ctx: OpContext = { ...opts.context, ...(req.progress ? { progress } : {}) };
      const result = await CONTROL_OPS[req.op](engine, req.args, ctx);
      if (req.op !== 'settle') opts.log?.(`control: ${req.op} done`); // every reader's open asks for settle
      return { id, ok: true, result };
    } catch (err) {
      opts.log?.(`control: refused: ${(err as Error).message}`);
      return { id, ok: false, error: errorInfo(err) };
    }
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await unlink(this.path).catch(() => undefined);
  }
}
