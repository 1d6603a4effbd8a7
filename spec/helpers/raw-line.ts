/** Sends raw bytes to a Unix or TCP socket and returns the first line that comes back. */
import { connect } from 'node:net';

export function rawLine(path: string, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let got = '';
    s.setEncoding('utf8');
    s.on('connect', () => s.write(bytes));
    s.on('data', (d: string) => {
      got += d;
      const nl = got.indexOf('\n');
      if (nl >= 0) {
        s.destroy();
        resolve(got.slice(0, nl));
      }
    });
    s.on('error', reject);
  });
}
