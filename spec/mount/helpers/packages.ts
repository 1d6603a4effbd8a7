/**
 * Debian packages a test needs, installed if missing (the machine is root; CI starts from
 * what tools/setup.sh installs). Idempotent: dpkg-query first, apt-get only for what is absent.
 */
import { run } from './proc.js';

async function installed(pkg: string): Promise<boolean> {
  const r = await run('dpkg-query', ['-W', '-f=${Status}', pkg], { timeoutMs: 30_000 });
  return r.code === 0 && r.stdout.includes('install ok installed');
}

/** Installs the packages that are missing; throws with apt's output if that fails. */
export async function ensurePackages(pkgs: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const p of pkgs) if (!(await installed(p))) missing.push(p);
  if (missing.length === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=300'];
  let r = await run('apt-get', [...lock, 'install', '-y', '-qq', ...missing], { timeoutMs: 600_000, env });
  if (r.code !== 0) {
    await run('apt-get', [...lock, 'update', '-qq'], { timeoutMs: 600_000, env });
    r = await run('apt-get', [...lock, 'install', '-y', '-qq', ...missing], { timeoutMs: 600_000, env });
  }
  if (r.code !== 0) throw new Error(`apt-get install ${missing.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
}
