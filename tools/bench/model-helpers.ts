/**
 * The anchors of `realize bench model`: `cp -a` (a child process) and hyperdrive 13 (loaded
 * dynamically; it is a devDependency, so the bench says plainly when it is missing), each
 * copying the same plain tree the Realize import reads, on the same disk.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runOk } from './proc-helpers.js';
import { versionOf, type Loaded } from './anchors.js';

/** The parts of hyperdrive 13's API the bench uses (it ships no types). */
export interface HyperdriveInstance {
  ready(): Promise<void>;
  put(name: string, buf: Uint8Array): Promise<void>;
  get(name: string): Promise<Uint8Array | null>;
  entry(name: string): Promise<{ value: { blob: { byteLength: number } | null } } | null>;
  close(): Promise<void>;
}

interface CorestoreLike {
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface HyperdriveAnchor {
  /** e.g. "hyperdrive 13.3.4". */
  readonly label: string;
  open(dir: string): Promise<{ drive: HyperdriveInstance; close(): Promise<void> }>;
}


/** hyperdrive + corestore, or why not. */
export async function loadHyperdrive(): Promise<Loaded<HyperdriveAnchor>> {
  let Corestore: new (dir: string) => CorestoreLike;
  let Hyperdrive: new (store: CorestoreLike) => HyperdriveInstance;
  try {
    // Variable specifiers: no types are wanted, and nothing is resolved until this runs.
    const cs = 'corestore';
    const hd = 'hyperdrive';
    Corestore = ((await import(cs)) as { default: typeof Corestore }).default;
    Hyperdrive = ((await import(hd)) as { default: typeof Hyperdrive }).default;
  } catch (err) {
    return {
      ok: false,
      reason: `hyperdrive/corestore are not installed (${(err as Error).message.split('\n')[0]}); install the anchors with: npm install --save-dev hyperdrive@13.3.4 corestore@7.12.5`,
    };
  }
  return {
    ok: true,
    anchor: {
      label: `hyperdrive ${versionOf('hyperdrive')}`,
      async open(dir) {
        const store = new Corestore(dir);
        const drive = new Hyperdrive(store);
        await drive.ready();
        return {
          drive,
          async close() {
            await drive.close();
            await store.close();
          },
        };
      },
    },
  };
}

/** Every regular file under `root`, as paths relative to it, in a depth-first walk. */
export async function listFiles(root: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel === '' ? d.name : `${rel}/${d.name}`;
    if (d.isDirectory()) out.push(...(await listFiles(root, r)));
    else if (d.isFile()) out.push(r);
  }
  return out;
}

/**
 * Puts every file of `src` into the drive at `/<relative path>` with drive.put (read whole
 * with readFile, then put), `inFlight` files at a time; the walk is part of the work, as it is
 * for cp -a and the Realize import.
 */
export async function hyperdriveImport(drive: HyperdriveInstance, src: string, inFlight: number): Promise<number> {
  const files = await listFiles(src);
  let next = 0;
  let bytes = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const rel = files[next++]!;
      const buf = await readFile(join(src, rel));
      await drive.put(`/${rel}`, buf);
      bytes += buf.byteLength;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inFlight) }, worker));
  return bytes;
}

/**
 * `cp -a SRC DEST` in a child process (under sh, whose `times` then reports the CPU seconds
 * cp used, user + system; null when it cannot be read).
 */
export async function cpA(src: string, dest: string, timeoutMs: number): Promise<{ cpu: number | null }> {
  const r = await runOk('cp -a', 'sh', ['-c', 'cp -a "$0" "$1" && times', src, dest], { timeoutMs });
  const children = r.stdout.trim().split('\n')[1] ?? '';
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { cpu: secs.length === 2 ? secs[0]! + secs[1]! : null };
}

/** Resident memory split (bytes): anonymous (heap, native allocations) and file-backed (mapped files: LMDB). */
export interface MemSplit {
  readonly anon: number;
  readonly file: number;
}

async function memSplit(): Promise<MemSplit | null> {
  try {
    const t = await readFile('/proc/self/smaps_rollup', 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? Number.NaN) * 1024;
    const rss = kb('Rss');
    const anon = kb('Anonymous');
    return Number.isFinite(rss) && Number.isFinite(anon) ? { anon, file: rss - anon } : null;
  } catch {
    return null;
  }
}

/**
 * Samples the anonymous and file-backed parts of this process's RSS every `everyMs` (Linux
 * /proc/self/smaps_rollup), keeping each part's peak: says whether growth is heap or mapped
 * LMDB pages. Samples ride the event loop, so a long synchronous stretch is seen once, after.
 */
export class MemSampler {
  #peak: { anon: number; file: number } = { anon: 0, file: 0 };
  #base: MemSplit | null = null;
  #stop = false;
  #loop: Promise<void> = Promise.resolve();

  static async start(everyMs = 25): Promise<MemSampler> {
    const s = new MemSampler();
    s.#base = await memSplit();
    s.#loop = (async () => {
      while (!s.#stop) {
        const m = await memSplit();
        if (m === null) return;
        s.#peak = { anon: Math.max(s.#peak.anon, m.anon), file: Math.max(s.#peak.file, m.file) };
        await new Promise((r) => setTimeout(r, everyMs));
      }
    })();
    return s;
  }

  /** The peaks and the baselines, or null where /proc does not tell. */
  async stop(): Promise<{ peak: MemSplit; base: MemSplit } | null> {
    this.#stop = true;
    await this.#loop;
    const last = await memSplit();
    if (this.#base === null || last === null) return null;
    return { peak: { anon: Math.max(this.#peak.anon, last.anon), file: Math.max(this.#peak.file, last.file) }, base: this.#base };
  }
}
