/**
 * AES-256-GCM frames are offered only on a CPU with AES instructions (cpu-aes.ts): the flag is
 * read from /proc/cpuinfo's x86 `flags` or ARM `Features` line, as a whole word.
 */
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { cpuHasAes, cpuinfoHasAes } from '../../engine/sync/cpu-aes.js';

t.test('the aes flag is found on an x86 flags line and an ARM Features line, as a whole word only', async (t) => {
  t.equal(cpuinfoHasAes('processor\t: 0\nflags\t\t: fpu vme sse2 pclmulqdq aes avx sha_ni\n'), true, 'x86 with AES-NI');
  t.equal(cpuinfoHasAes('processor\t: 0\nflags\t\t: fpu vme sse2 avx\n'), false, 'x86 without');
  t.equal(cpuinfoHasAes('processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n'), true, 'ARMv8 with the AES extension');
  t.equal(cpuinfoHasAes('processor\t: 0\nFeatures\t: fp asimd evtstrm crc32\n'), false, 'ARM without');
  t.equal(cpuinfoHasAes('flags\t\t: fpu vaes_like aesx\n'), false, 'a flag that only contains "aes" is not it');
  t.equal(cpuinfoHasAes('model name\t: AES machine\nflags\t\t: fpu\n'), false, 'the word elsewhere than the flags line is not it');
  t.equal(cpuinfoHasAes(''), false, 'nothing known: no AES');
});

t.test("this machine's answer is its /proc/cpuinfo's", async (t) => {
  const text = await readFile('/proc/cpuinfo', 'latin1').catch(() => '');
  t.equal(cpuHasAes(), cpuinfoHasAes(text), `cpuHasAes() ${cpuHasAes()}`);
});
