/**
 * Raw system calls in a child process, for what Node's fs cannot do (xattrs with
 * XATTR_CREATE/XATTR_REPLACE, access(2) as another user) and for running calls as uid 65534.
 * The child is python3 (on every machine of this project's kind): its os module is a thin
 * layer over the system calls and reports errno names as they are.
 *
 * Each call answers { ok: value } or { err: 'ENOENT' }.
 */
import { existsSync } from 'node:fs';
import { run, type RunOptions } from './proc.js';

/** Debian's python3, which every user may run (a pyenv shim under /root is not). */
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

export type SysCall =
  | ['stat' | 'lstat' | 'readlink' | 'listdir' | 'rmdir' | 'unlink' | 'listxattr' | 'statvfs' | 'read_file', string]
  | ['mkdir', string, number]
  | ['open', string, string[], number?]
  | ['create', string, number]
  | ['write_file', string, string]
  | ['access', string, string]
  | ['rename' | 'link' | 'symlink', string, string]
  | ['chmod', string, number]
  | ['chown', string, number, number]
  | ['utime', string, [number, number] | null]
  | ['truncate', string, number]
  | ['setxattr', string, string, string, ('create' | 'replace')?]
  | ['setxattr_hex', string, string, string]
  | ['getxattr' | 'removexattr', string, string];

export type SysResult = { ok: unknown; err?: undefined } | { err: string; ok?: undefined };

const SCRIPT = String.raw`
import errno, json, os, sys
calls = json.loads(sys.stdin.read())
def st(s):
    return {'mode': s.st_mode, 'uid': s.st_uid, 'gid': s.st_gid, 'size': s.st_size, 'nlink': s.st_nlink,
            'ino': s.st_ino, 'atime_ns': s.st_atime_ns, 'mtime_ns': s.st_mtime_ns, 'ctime_ns': s.st_ctime_ns}
def do(c):
    op, a = c[0], c[1:]
    if op == 'stat': return st(os.stat(a[0]))
    if op == 'lstat': return st(os.lstat(a[0]))
    if op == 'readlink': return os.readlink(a[0])
    if op == 'listdir': return sorted(os.listdir(a[0]))
    if op == 'rmdir': return os.rmdir(a[0])
    if op == 'unlink': return os.unlink(a[0])
    if op == 'mkdir': return os.mkdir(a[0], a[1])
    if op == 'open':
        fl = 0
        for f in a[1]: fl |= getattr(os, f)
        fd = os.open(a[0], fl, a[2] if len(a) > 2 else 0o644)
        os.close(fd)
        return None
    if op == 'create':
        os.close(os.open(a[0], os.O_CREAT | os.O_EXCL | os.O_WRONLY, a[1]))
        return None
    if op == 'write_file':
        fd = os.open(a[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, a[1].encode())
        os.close(fd)
        return None
    if op == 'read_file':
        with open(a[0], 'rb') as f: return f.read().decode('latin-1')
    if op == 'access':
        os.stat(a[0])  # ENOENT, ENOTDIR, EACCES of the path itself
        m = 0
        for ch in a[1]: m |= {'r': os.R_OK, 'w': os.W_OK, 'x': os.X_OK, 'f': os.F_OK}[ch]
        if os.access(a[0], m, effective_ids=False): return None
        raise OSError(errno.EACCES, 'access denied')
    if op == 'rename': return os.rename(a[0], a[1])
    if op == 'link': return os.link(a[0], a[1])
    if op == 'symlink': return os.symlink(a[0], a[1])
    if op == 'chmod': return os.chmod(a[0], a[1])
    if op == 'chown': return os.chown(a[0], a[1], a[2])
    if op == 'utime': return os.utime(a[0], None if a[1] is None else (a[1][0], a[1][1]))
    if op == 'truncate': return os.truncate(a[0], a[1])
    if op == 'setxattr':
        flags = {'create': os.XATTR_CREATE, 'replace': os.XATTR_REPLACE}.get(a[3] if len(a) > 3 else None, 0)
        return os.setxattr(a[0], a[1], a[2].encode(), flags)
    if op == 'setxattr_hex': return os.setxattr(a[0], a[1], bytes.fromhex(a[2]), 0)
    if op == 'getxattr': return os.getxattr(a[0], a[1]).decode('latin-1')
    if op == 'listxattr': return sorted(os.listxattr(a[0]))
    if op == 'removexattr': return os.removexattr(a[0], a[1])
    if op == 'statvfs':
        s = os.statvfs(a[0])
        return {'bsize': s.f_bsize, 'blocks': s.f_blocks, 'bfree': s.f_bfree, 'bavail': s.f_bavail, 'files': s.f_files, 'namemax': s.f_namemax}
    raise ValueError('unknown call ' + op)
out = []
for c in calls:
    try:
        out.append({'ok': do(c)})
    except OSError as e:
        out.append({'err': errno.errorcode.get(e.errno, str(e.errno))})
print(json.dumps(out))
`;

/** Runs the calls in order in one child; one result per call. */
export async function sys(calls: readonly SysCall[], opts: RunOptions = {}): Promise<SysResult[]> {
  const r = await run(PYTHON, ['-I', '-c', SCRIPT], { timeoutMs: 30_000, ...opts, input: JSON.stringify(calls) });
  if (r.code !== 0) throw new Error(`python3 syscalls failed (${r.code ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as SysResult[];
}

/** One call as uid 65534. */
export async function asNobody(call: SysCall): Promise<SysResult> {
  return (await sys([call], { asNobody: true }))[0]!;
}

/** One call as this process's user, in a child. */
export async function sys1(call: SysCall): Promise<SysResult> {
  return (await sys([call]))[0]!;
}
