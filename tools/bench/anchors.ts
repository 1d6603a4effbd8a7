/**
 * Loading the anchors (the outside tools benches compare against). They are devDependencies
 * and imported dynamically, so the CLI works without them and a bench can say plainly what
 * is missing instead of failing.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The parts of hypercore 11's session API the benches use (it ships no types). */
export interface HypercoreSession {
  readonly length: number;
  readonly key: Uint8Array;
  ready(): Promise<void>;
  append(blocks: Uint8Array | readonly Uint8Array[]): Promise<{ length: number; byteLength: number }>;
  get(index: number, opts?: { wait?: boolean; valueEncoding?: string }): Promise<Uint8Array | null>;
  createReadStream(opts?: { start?: number; end?: number; live?: boolean }): AsyncIterable<Uint8Array>;
  close(): Promise<void>;
  /** Internals used by verification (see log.ts): the shared core, and the session state. */
  readonly core: {
    audit(opts?: { tree?: boolean; blocks?: boolean; bitfield?: boolean; dryRun?: boolean }): Promise<{
      treeNodes: number;
      blocks: number;
      bits: number;
      droppedTreeNodes: number;
      droppedBlocks: number;
      droppedBits: number;
      corrupt: boolean;
    } | null>;
    readonly verifier: { verify(batch: unknown, signature: Uint8Array | null): boolean };
  };
  readonly state: { readonly signature: Uint8Array | null; readonly length: number; createTreeBatch(): { readonly length: number } };
}

export interface CorestoreInstance {
  get(opts: { name: string }): HypercoreSession;
  ready(): Promise<void>;
  close(): Promise<void>;
}

export interface HypercoreAnchor {
  /** e.g. "hypercore 11.37.1". */
  readonly label: string;
  readonly version: string;
  readonly corestoreVersion: string;
  openStore(dir: string): CorestoreInstance;
}

export type Loaded<T> = { readonly ok: true; readonly anchor: T } | { readonly ok: false; readonly reason: string };

/** The installed version of package `pkg` ('?' when it cannot be read). */
export function versionOf(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return '?';
  }
}

/** hypercore + corestore, or why not. */
export async function loadHypercore(): Promise<Loaded<HypercoreAnchor>> {
  let Corestore: new (dir: string) => CorestoreInstance;
  try {
    // A variable specifier: no types are wanted, and nothing is resolved until this runs.
    const name = 'corestore';
    const mod = (await import(name)) as { default: new (dir: string) => CorestoreInstance };
    Corestore = mod.default;
    await import('hypercore' as string);
  } catch (err) {
    return {
      ok: false,
      reason: `hypercore/corestore are not installed (${(err as Error).message.split('\n')[0]}); install the anchors with: npm install --save-dev hypercore@11.37.1 corestore@7.12.5`,
    };
  }
  const version = versionOf('hypercore');
  return {
    ok: true,
    anchor: {
      label: `hypercore ${version}`,
      version,
      corestoreVersion: versionOf('corestore'),
      openStore: (dir) => new Corestore(dir),
    },
  };
}
