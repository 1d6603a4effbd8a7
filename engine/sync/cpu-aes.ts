/**
 * Whether this CPU has AES instructions (x86's AES-NI, ARMv8's AES extension), read once from
 * /proc/cpuinfo. AES-256-GCM frames are offered and taken only then: with them it costs each
 * side of a stream less than ChaCha20-Poly1305, without them several times more. Where the
 * file cannot be read (not Linux), false: ChaCha20-Poly1305, fast everywhere.
 */
import { readFileSync } from 'node:fs';

/** True when `cpuinfo` (the text of /proc/cpuinfo) lists the `aes` flag or feature. */
export function cpuinfoHasAes(cpuinfo: string): boolean {
  return /^(flags|Features)\s*:.*\baes\b/m.test(cpuinfo);
}

let known: boolean | undefined;

export function cpuHasAes(): boolean {
  if (known === undefined) {
    try {
      known = cpuinfoHasAes(readFileSync('/proc/cpuinfo', 'latin1'));
    } catch {
      known = false;
    }
  }
  return known;
}
