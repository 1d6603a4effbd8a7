/** HOST:PORT addresses of listening peers. */
import { PEER_ADDRESS_RE } from '../../log/index.js';
import { SyncError } from './sync-error.js';

export interface Address {
  readonly host: string;
  readonly port: number;
}

export function parseAddress(text: string): Address {
  if (!PEER_ADDRESS_RE.test(text)) throw new SyncError('BAD_ADDRESS', `not a HOST:PORT address: ${JSON.stringify(text)}`);
  const at = text.lastIndexOf(':');
  let host = text.slice(0, at);
  const port = Number(text.slice(at + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SyncError('BAD_ADDRESS', `bad port in ${JSON.stringify(text)}`);
  if (host.startsWith('[')) host = host.slice(1, -1);
  return { host, port };
}

export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
