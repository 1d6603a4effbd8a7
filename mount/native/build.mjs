#!/usr/bin/env node
// Patches node_modules/fuse-native with ./fuse-native.patch and rebuilds its addon from source.
//
// Run by the root package's "postinstall" (also by hand: `node mount/native/build.mjs [--force]`).
// Idempotent: when the installed copy already carries this exact patch and build/Release/fuse.node
// was built from it, it only reads two small files and exits.
//
// Steps: (1) apply the patch with `patch -p1` (reverting a previously applied, older version of the
// patch first), (2) `node-gyp rebuild` with npm's bundled node-gyp against the local Node headers,
// (3) delete prebuilds/linux-* so node-gyp-build can only ever load build/Release/fuse.node,
// (4) check that node-gyp-build resolves to the new binary and that it exports the patched API,
// (5) write a stamp (sha256 of the patch) next to the binary.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const VERSION = '2.2.6'
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')
const PATCH = path.join(here, 'fuse-native.patch')
const force = process.argv.includes('--force')

const log = (msg) => console.log(`[fuse-native] ${msg}`)
function fail (msg) {
  console.error(`[fuse-native] ERROR: ${msg}`)
  process.exit(1)
}
const read = (file) => { try { return readFileSync(file, 'utf8') } catch { return null } }

if (process.platform !== 'linux') {
  log(`platform ${process.platform}: the patch targets Linux/libfuse 2, skipping`)
  process.exit(0)
}

const requireFromRoot = createRequire(path.join(root, 'package.json'))
let pkgDir
try {
  pkgDir = path.dirname(requireFromRoot.resolve('fuse-native/package.json'))
} catch {
  log('fuse-native is not installed, nothing to do')
  process.exit(0)
}
const version = JSON.parse(readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version
if (version !== VERSION) fail(`${PATCH} is for fuse-native ${VERSION}, found ${version} in ${pkgDir}`)

const patchText = readFileSync(PATCH, 'utf8')
const hash = createHash('sha256').update(patchText).digest('hex')
const appliedFile = path.join(pkgDir, 'realize-applied.patch') // copy of the patch now in the sources
const addon = path.join(pkgDir, 'build', 'Release', 'fuse.node')
const stampFile = path.join(pkgDir, 'build', 'Release', 'realize-patch.sha256')
const prebuildsDir = path.join(pkgDir, 'prebuilds')
const linuxPrebuilds = () => {
  try { return readdirSync(prebuildsDir).filter((d) => d.startsWith('linux-')) } catch { return [] }
}

if (!force && read(stampFile) === hash && read(appliedFile) === patchText && existsSync(addon) &&
    linuxPrebuilds().length === 0) {
  log('already patched and built')
  process.exit(0)
}

// 1. Sources.
function runPatch (text, extra) {
  const r = spawnSync('patch', ['-p1', '--batch', '--no-backup-if-mismatch', '--reject-file=-', '-d', pkgDir, ...extra],
    { input: text, encoding: 'utf8' })
  if (r.error) fail(`cannot run \`patch\` (${r.error.message}); install it (Debian: apt-get install patch)`)
  return r
}
const applied = read(appliedFile)
if (applied !== patchText) {
  if (applied !== null) {
    log('reverting the previously applied version of the patch')
    const r = runPatch(applied, ['-R'])
    if (r.status !== 0) fail(`cannot revert the old patch:\n${r.stdout}${r.stderr}\nReinstall: rm -rf node_modules && npm ci`)
    rmSync(appliedFile)
  }
  const dry = runPatch(patchText, ['--forward', '--dry-run'])
  if (dry.status !== 0) {
    fail(`${PATCH} does not apply to ${pkgDir} (modified sources?):\n${dry.stdout}${dry.stderr}\n` +
      'Reinstall: rm -rf node_modules && npm ci')
  }
  const r = runPatch(patchText, ['--forward'])
  if (r.status !== 0) fail(`patch failed:\n${r.stdout}${r.stderr}`)
  writeFileSync(appliedFile, patchText)
  log('patch applied')
}

// 2. Build.
function findNodeGyp () {
  const candidates = []
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp) // set by npm for scripts
  if (process.env.npm_execpath) {
    candidates.push(path.resolve(path.dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  }
  candidates.push(path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'))
  try { candidates.push(requireFromRoot.resolve('node-gyp/bin/node-gyp.js')) } catch {}
  for (const c of candidates) if (existsSync(c)) return c
  const r = spawnSync('npm', ['root', '-g'], { encoding: 'utf8' })
  const viaNpm = r.status === 0 && path.join(r.stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  if (viaNpm && existsSync(viaNpm)) return viaNpm
  fail('node-gyp not found (it ships with npm); tried:\n  ' + candidates.join('\n  '))
}

// Local Node headers (e.g. nodedir=/usr with /usr/include/node from the distro) avoid a download.
function findNodedir () {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) &&
      existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) return prefix
  return null
}

const nodeGyp = findNodeGyp()
const nodedir = findNodedir()
const gypArgs = [nodeGyp, 'rebuild']
if (nodedir) gypArgs.push(`--nodedir=${nodedir}`)
log(`building: node ${gypArgs.map((a) => path.basename(a) === 'node-gyp.js' ? 'node-gyp' : a).join(' ')}`)
const build = spawnSync(process.execPath, gypArgs, { cwd: pkgDir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
if (build.status !== 0 || !existsSync(addon)) {
  fail(`node-gyp rebuild failed (needs python3, make, g++):\n${build.stdout}${build.stderr}`)
}

// 3. No prebuilt (unpatched) binary may shadow ours.
for (const d of linuxPrebuilds()) rmSync(path.join(prebuildsDir, d), { recursive: true, force: true })

// 4. node-gyp-build must now resolve to, and load, the patched binary.
const requireFromPkg = createRequire(path.join(pkgDir, 'index.js'))
const resolved = requireFromPkg('node-gyp-build').path(pkgDir)
if (path.resolve(resolved) !== addon) fail(`node-gyp-build resolves ${resolved}, expected ${addon}`)
const binding = requireFromPkg(addon)
for (const fn of ['fuse_native_context', 'fuse_native_attr_changed', 'fuse_native_listing_fill']) {
  if (typeof binding[fn] !== 'function') fail(`${addon} does not export ${fn}`)
}

// 5. Stamp.
writeFileSync(stampFile, hash)
log(`built ${path.relative(root, addon)}`)
