// Real-mount test of the patched fuse-native (mount/native/fuse-native.patch, built on postinstall
// by mount/native/build.mjs): big_writes, utimens atime/mtime/UTIME_OMIT with ns precision, and the
// caller's uid/gid via Fuse.context().
//
// Every access to the mounted path happens in a child process: this process serves the mount, so a
// *Sync fs call on it from here would deadlock.
import t from 'tap'
import Fuse from 'fuse-native'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

if (!existsSync('/dev/fuse')) {
  t.plan(0, '/dev/fuse is missing')
  process.exit(0)
}

const S_IFDIR = 0o040000
const S_IFMT = 0o170000
const NOBODY = 65534
const isRoot = process.getuid?.() === 0

interface Inode {
  mode: number
  uid: number
  gid: number
  data: Buffer
  atime: bigint
  mtime: bigint
  ctime: bigint
}

const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n

// --- tiny in-memory filesystem, recording what the patched module hands to the handlers ---
const nodes = new Map<string, Inode>()
nodes.set('/', { mode: S_IFDIR | 0o777, uid: 0, gid: 0, data: Buffer.alloc(0), atime: nowNs(), mtime: nowNs(), ctime: nowNs() })
const writes: { path: string; length: number; position: number }[] = []
const utimensCalls: { path: string; atime: bigint | null; mtime: bigint | null }[] = []
const creators = new Map<string, Fuse.Context | null>()
/** getattr calls by path; whether chmod hands the node's attributes ahead with its answer. */
const getattrCalls = new Map<string, number>()
let handAhead = false
/** getxattr calls for security.capability (the kernel's lookup before a write) that reached JS, by path. */
const capsAsked = new Map<string, number>()
/** Paths whose getattr hands all of them to the addon's attribute cache (Fuse.attrFill); what it kept. */
let fillPaths: string[] = []
let kept = -1
let nextFd = 10

function newNode (mode: number): Inode {
  const ctx = Fuse.context() // synchronously, at the start of the handler
  const n = nowNs()
  return { mode, uid: ctx?.uid ?? 0, gid: ctx?.gid ?? 0, data: Buffer.alloc(0), atime: n, mtime: n, ctime: n }
}

function statOf (n: Inode): Fuse.Stat {
  return {
    mode: n.mode,
    uid: n.uid,
    gid: n.gid,
    size: n.data.length,
    nlink: (n.mode & S_IFMT) === S_IFDIR ? 2 : 1,
    blksize: 4096,
    blocks: Math.ceil(n.data.length / 512),
    atime: n.atime,
    mtime: n.mtime,
    ctime: n.ctime
  }
}

const ops: Fuse.Operations = {
  getattr (p, cb) {
    getattrCalls.set(p, (getattrCalls.get(p) ?? 0) + 1)
    const n = nodes.get(p)
    if (!n) return cb(Fuse.ENOENT)
    if (fillPaths.includes(p)) kept = Fuse.attrFill(fillPaths, fillPaths.map((q) => statOf(nodes.get(q)!)))
    cb(0, statOf(n))
  },
  readdir (p, cb) {
    const prefix = p === '/' ? '/' : p + '/'
    const names = [...nodes.keys()].filter((k) => k !== p && k.startsWith(prefix) && !k.slice(prefix.length).includes('/'))
    cb(0, names.map((k) => k.slice(prefix.length)))
  },
  create (p, mode, cb) {
    creators.set(p, Fuse.context())
    nodes.set(p, newNode(mode))
    cb(0, nextFd++)
  },
  mkdir (p, mode, cb) {
    creators.set(p, Fuse.context())
    nodes.set(p, newNode(S_IFDIR | mode))
    cb(0)
  },
  open (p, _flags, cb) {
    if (!nodes.has(p)) return cb(Fuse.ENOENT)
    cb(0, nextFd++)
  },
  release (_p, _fd, cb) { cb(0) },
  truncate (p, size, cb) {
    const n = nodes.get(p)
    if (!n) return cb(Fuse.ENOENT)
    const data = Buffer.alloc(size)
    n.data.copy(data, 0, 0, Math.min(size, n.data.length))
    n.data = data
    n.mtime = n.ctime = nowNs()
    cb(0)
  },
  ftruncate (p, _fd, size, cb) { ops.truncate!(p, size, cb) },
  read (p, _fd, buf, len, pos, cb) {
    const n = nodes.get(p)
    if (!n) return cb(Fuse.ENOENT)
    cb(n.data.copy(buf, 0, pos, Math.min(n.data.length, pos + len)))
  },
  write (p, _fd, buf, len, pos, cb) {
    const n = nodes.get(p)
    if (!n) return cb(Fuse.ENOENT)
    writes.push({ path: p, length: len, position: pos })
    if (pos + len > n.data.length) {
      const grown = Buffer.alloc(pos + len)
      n.data.copy(grown)
      n.data = grown
    }
    buf.copy(n.data, pos, 0, len) // copy now: buf is detached once cb is called
    n.mtime = n.ctime = nowNs()
    cb(len)
  },
  utimens (p, atime, mtime, cb) {
    utimensCalls.push({ path: p, atime, mtime })
    const n = nodes.get(p)
    if (!n) return cb(Fuse.ENOENT)
    if (atime !== null) n.atime = atime
    if (mtime !== null) n.mtime = mtime
    n.ctime = nowNs()
    cb(0)
  },
  chmod (p, mode, cb) {
    const n = nodes.get(p)
    if (!n) return cb(Fuse.ENOENT)
    n.mode = (n.mode & S_IFMT) | (mode & 0o7777)
    if (handAhead) cb(0, statOf(n))
    else cb(0)
  },
  unlink (p, cb) {
    if (!nodes.delete(p)) return cb(Fuse.ENOENT)
    cb(0)
  },
  getxattr (p, name, _position, cb) {
    if (!nodes.has(p)) return cb(Fuse.ENOENT)
    if (name === 'security.capability') capsAsked.set(p, (capsAsked.get(p) ?? 0) + 1)
    cb(Fuse.ENODATA)
  }
}

// --- child processes and mount hygiene ---
interface Ran { code: number | null; stdout: string; stderr: string }

function run (cmd: string, args: string[], timeoutMs = 20_000): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', (err) => resolve({ code: -1, stdout, stderr: stderr + String(err) }))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

const statScript = `const s = require('fs').statSync(process.argv[1], { bigint: true });
console.log(JSON.stringify({ uid: Number(s.uid), gid: Number(s.gid), mode: Number(s.mode), size: Number(s.size),
  atimeNs: String(s.atimeNs), mtimeNs: String(s.mtimeNs) }))`

async function statChild (p: string): Promise<{ uid: number; gid: number; mode: number; size: number; atimeNs: bigint; mtimeNs: bigint }> {
  const r = await run(process.execPath, ['-e', statScript, p])
  if (r.code !== 0) throw new Error(`stat ${p} failed: ${r.stderr}`)
  const s = JSON.parse(r.stdout)
  return { ...s, atimeNs: BigInt(s.atimeNs), mtimeNs: BigInt(s.mtimeNs) }
}

/** The mountinfo line of mnt, if mounted. */
async function mountLine (mnt: string): Promise<string | undefined> {
  const info = await readFile('/proc/self/mountinfo', 'utf8')
  return info.split('\n').find((l) => l.split(' ')[4] === mnt)
}

async function forceUnmount (mnt: string): Promise<void> {
  if (!(await mountLine(mnt))) return
  await run('fusermount', ['-u', mnt], 10_000)
  if (!(await mountLine(mnt))) return
  await run('umount', ['-l', mnt], 10_000)
  const line = await mountLine(mnt)
  if (!line) return
  // Wedged: abort the connection through fusectl, then detach.
  const minor = line.split(' ')[2]!.split(':')[1]
  if (!existsSync('/sys/fs/fuse/connections/' + minor)) {
    await run('mount', ['-t', 'fusectl', 'fusectl', '/sys/fs/fuse/connections'], 10_000)
  }
  await writeFile(`/sys/fs/fuse/connections/${minor}/abort`, '1').catch(() => {})
  await run('umount', ['-l', mnt], 10_000)
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'realize-fuse-native-'))
await chmod(dir, 0o755) // the non-root caller must be able to reach the mountpoint
const mnt = path.join(dir, 'mnt')
let mounted = false

// Last resort if the test is killed by a timeout or crashes: lazy-detach without talking to the
// (possibly dead) filesystem.
process.on('exit', () => {
  if (!mounted) return
  spawnSync('fusermount', ['-uz', mnt], { timeout: 5000 })
  spawnSync('umount', ['-l', mnt], { timeout: 5000 })
})

t.teardown(async () => {
  if (mounted) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000)
      fuse.unmount(() => { clearTimeout(timer); resolve() })
    })
    await forceUnmount(mnt)
    mounted = Boolean(await mountLine(mnt))
  }
  if (!mounted) await rm(dir, { recursive: true, force: true })
})

const fuse = new Fuse(mnt, ops, {
  mkdir: true,
  timeout: 10_000,
  // arbitrary -o options pass through: allow_other lets the non-root caller in,
  // attr_timeout=0 makes every stat in a child reach getattr
  options: ['allow_other', 'attr_timeout=0', 'entry_timeout=0']
})
await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())))
mounted = true

t.test('mount options reach the kernel; context() is null outside handlers', async (t) => {
  const line = await mountLine(mnt)
  t.ok(line, 'mounted')
  t.match(line ?? '', /allow_other/, 'extra option allow_other is in effect')
  t.equal(Fuse.context(), null, 'no caller outside a handler')
  const fds = await run('sh', ['-c', 'for f in /proc/$$/fd/*; do readlink "$f"; done'])
  t.notMatch(fds.stdout, /\/dev\/fuse/, 'children do not inherit /dev/fuse (close-on-exec)')
})

t.test('big_writes: a 1 MiB write arrives in chunks larger than 4 KiB', { timeout: 30_000 }, async (t) => {
  const file = path.join(mnt, 'big')
  const w = await run(process.execPath, ['-e', "require('fs').writeFileSync(process.argv[1], Buffer.alloc(1 << 20, 7))", file])
  t.equal(w.code, 0, 'child wrote 1 MiB: ' + w.stderr)
  const mine = writes.filter((x) => x.path === '/big')
  const total = mine.reduce((a, x) => a + x.length, 0)
  const largest = Math.max(...mine.map((x) => x.length))
  t.equal(total, 1 << 20, 'all bytes reached the write handler')
  t.ok(largest > 4096, `largest write chunk is ${largest} bytes over ${mine.length} calls`)
  t.ok(mine.length <= (1 << 20) / 8192, 'not split into 4 KiB pieces')

  const r = await run(process.execPath, ['-e',
    "const b = require('fs').readFileSync(process.argv[1]); console.log(b.length, b.every((x) => x === 7))", file])
  t.equal(r.stdout.trim(), `${1 << 20} true`, 'content reads back')
  t.equal((await statChild(file)).size, 1 << 20, 'size reported')
})

t.test('utimens: atime and mtime are right, UTIME_OMIT is null, ns precision', { timeout: 30_000 }, async (t) => {
  const file = path.join(mnt, 'times')
  t.equal((await run('touch', [file])).code, 0, 'touch creates')

  const T1 = 981173106_123456789n // @981173106.123456789
  utimensCalls.length = 0
  t.equal((await run('touch', ['-d', '@981173106.123456789', file])).code, 0, 'touch -d')
  t.same(utimensCalls, [{ path: '/times', atime: T1, mtime: T1 }], 'both set, exact ns')
  let s = await statChild(file)
  t.equal(s.atimeNs, T1, 'atime reads back with ns precision')
  t.equal(s.mtimeNs, T1, 'mtime reads back with ns precision')

  const T2 = 1_000_000_000_500_000_000n
  utimensCalls.length = 0
  t.equal((await run('touch', ['-a', '-d', '@1000000000.5', file])).code, 0, 'touch -a -d')
  t.same(utimensCalls, [{ path: '/times', atime: T2, mtime: null }], 'atime only, mtime omitted (null)')
  s = await statChild(file)
  t.equal(s.atimeNs, T2, 'atime changed')
  t.equal(s.mtimeNs, T1, 'mtime untouched')

  const T3 = 1_100_000_000_250_000_000n
  utimensCalls.length = 0
  t.equal((await run('touch', ['-m', '-d', '@1100000000.25', file])).code, 0, 'touch -m -d')
  t.same(utimensCalls, [{ path: '/times', atime: null, mtime: T3 }], 'mtime only, atime omitted (null)')
  s = await statChild(file)
  t.equal(s.atimeNs, T2, 'atime untouched')
  t.equal(s.mtimeNs, T3, 'mtime changed')

  utimensCalls.length = 0
  const before = nowNs() - 1_000_000_000n
  t.equal((await run('touch', [file])).code, 0, 'touch (UTIME_NOW)')
  const after = nowNs() + 1_000_000_000n
  t.equal(utimensCalls.length, 1, 'one utimens call')
  const { atime, mtime } = utimensCalls[0] ?? { atime: null, mtime: null }
  t.ok(atime !== null && atime >= before && atime <= after, `UTIME_NOW atime resolved to now (${atime})`)
  t.equal(mtime, atime, 'UTIME_NOW: one clock reading for both')
})

t.test('Fuse.context(): new files belong to the caller', { timeout: 30_000 }, async (t) => {
  const uid = isRoot ? NOBODY : process.getuid!()
  const gid = isRoot ? NOBODY : process.getgid!()
  const asCaller = (script: string): Promise<Ran> => isRoot
    ? run('setpriv', ['--reuid=' + NOBODY, '--regid=' + NOBODY, '--clear-groups', 'sh', '-c', script])
    : run('sh', ['-c', script])

  const file = path.join(mnt, 'owned')
  const sub = path.join(mnt, 'owned-dir')
  const r = await asCaller(`umask 027 && touch '${file}' && mkdir '${sub}' && id -u && id -g`)
  t.equal(r.code, 0, 'caller created a file and a directory: ' + r.stderr)
  t.equal(r.stdout.trim(), `${uid}\n${gid}`, `child ran as ${uid}:${gid}`)

  const c = creators.get('/owned')
  t.ok(c, 'create saw a context')
  t.equal(c?.uid, uid, 'create: caller uid')
  t.equal(c?.gid, gid, 'create: caller gid')
  t.ok((c?.pid ?? 0) > 0, 'create: caller pid')
  t.equal(c?.umask, 0o027, 'create: caller umask')
  const d = creators.get('/owned-dir')
  t.equal(d?.uid, uid, 'mkdir: caller uid')
  t.equal(d?.gid, gid, 'mkdir: caller gid')

  const s = await statChild(file)
  t.equal(s.uid, uid, 'file is owned by the caller')
  t.equal(s.gid, gid, 'file group is the caller\'s')
  t.equal(s.mode & 0o777, 0o640, 'mode has the umask applied')
  const ds = await statChild(sub)
  t.equal(ds.uid, uid, 'directory is owned by the caller')

  if (isRoot) {
    const rootCreated = creators.get('/big')
    t.equal(rootCreated?.uid, 0, 'a file created by root belongs to root')
  }
})

t.test('attributes handed ahead by a change answer the getattr libfuse makes right after it', { timeout: 30_000 }, async (t) => {
  const file = path.join(mnt, 'ahead')
  t.equal((await run('touch', [file])).code, 0, 'touch creates')
  const chmods = async (n: number): Promise<number> => {
    getattrCalls.set('/ahead', 0)
    for (let i = 0; i < n; i++) t.equal((await run('chmod', [i % 2 === 0 ? '600' : '644', file])).code, 0, 'chmod')
    return getattrCalls.get('/ahead') ?? 0
  }
  handAhead = false
  const asked = await chmods(4)
  handAhead = true
  const handed = await chmods(4)
  t.equal(handed, asked - 4, `one getattr fewer per chmod (${asked} without, ${handed} with)`)
  t.equal((await statChild(file)).mode & 0o777, 0o644, 'the last mode is the one that stays')
  t.equal((await run('chmod', ['600', file])).code, 0)
  t.equal((await statChild(file)).mode & 0o777, 0o600, 'and reads back after the next change')
  handAhead = false
})

t.test('the security.capability lookup before the first write of a node CREATE just made is answered on the FUSE thread', { timeout: 30_000 }, async (t) => {
  const writeScript = `const fs = require('fs'); const fd = fs.openSync(process.argv[1], process.argv[2]); fs.writeSync(fd, 'data'); fs.closeSync(fd)`
  const old = path.join(mnt, 'caps-old')
  t.equal((await run('touch', [old])).code, 0, 'touch creates')
  await new Promise((r) => setTimeout(r, 1200)) // past the 1 s an answer is given again
  t.equal((await run(process.execPath, ['-e', writeScript, old, 'r+'])).code, 0, 'a write to a node made earlier')
  t.equal(capsAsked.get('/caps-old'), 1, 'the kernel asks (JS answers the first lookup, the addon any more within 1 s)')
  const fresh = path.join(mnt, 'caps-fresh')
  t.equal((await run(process.execPath, ['-e', writeScript, fresh, 'wx'])).code, 0, 'create and write')
  t.equal(capsAsked.get('/caps-fresh') ?? 0, 0, 'the lookup for the node CREATE made never reached JS')
  t.equal((await run('cat', [fresh])).stdout, 'data')
})

t.test('the attribute cache answers getattrs on the FUSE threads until anything changes', { timeout: 30_000 }, async (t) => {
  const at = nowNs()
  nodes.set('/cached', { mode: S_IFDIR | 0o755, uid: 0, gid: 0, data: Buffer.alloc(0), atime: at, mtime: at, ctime: at })
  for (const name of ['a', 'b', 'c']) nodes.set(`/cached/${name}`, { mode: 0o100644, uid: 0, gid: 0, data: Buffer.alloc(3), atime: at, mtime: at, ctime: at })
  const all = ['/cached/a', '/cached/b', '/cached/c']
  const file = (name: string): string => path.join(mnt, 'cached', name)
  const asked = (name: string): number => getattrCalls.get(`/cached/${name}`) ?? 0
  /** Size and mode of a file, by coreutils' stat in a child (quick: entries last 1 s). */
  const stat = async (name: string): Promise<{ size: number; mode: number }> => {
    const r = await run('stat', ['-c', '%s %a', file(name)])
    if (r.code !== 0) throw new Error(`stat ${name}: ${r.stderr}`)
    const [size, mode] = r.stdout.trim().split(' ')
    return { size: Number(size), mode: parseInt(mode!, 8) }
  }
  /** A stat of a whose getattr hands a, b and c over; then the counts start again. */
  const fill = async (): Promise<void> => {
    Fuse.attrInvalidate() // a is not answered from an earlier fill
    fillPaths = all
    kept = -1
    await stat('a')
    fillPaths = []
    t.equal(kept, 3, 'the getattr of a handed the three entries over')
    getattrCalls.clear()
  }
  t.equal(Fuse.attrFill(['/cached/a'], [statOf(nodes.get('/cached/a')!)]), 0, 'nothing is kept outside a handler')
  t.equal(Fuse.attrGeneration(), -1, 'and there is no generation outside one')

  await fill()
  t.same(await stat('b'), { size: 3, mode: 0o644 }, 'stat of b')
  t.same(await stat('c'), { size: 3, mode: 0o644 }, 'stat of c')
  t.equal(asked('b') + asked('c'), 0, 'b and c were answered by the addon (attr_timeout=0: the kernel asked each time)')

  await fill()
  nodes.get('/cached/b')!.data = Buffer.alloc(5) // changed by the filesystem on its own
  t.equal((await stat('b')).size, 3, 'a change JS made on its own is not seen before it says so')
  Fuse.attrInvalidate()
  t.equal((await stat('b')).size, 5, 'after attrInvalidate it is')
  t.ok(asked('b') >= 1, 'the getattr reached JS again')

  await fill()
  t.equal((await run('chmod', ['600', file('a')])).code, 0, 'a chmod through the mount')
  t.equal((await stat('c')).size, 3, 'stat of c after it')
  t.ok(asked('c') >= 1, 'a changing request empties the cache: c reached JS')
  t.equal((await stat('a')).mode, 0o600, 'and a shows its new mode')

  await fill()
  await new Promise((resolve) => setTimeout(resolve, 1100))
  await stat('c')
  t.ok(asked('c') >= 1, 'an entry is good for 1 s at most')
})
