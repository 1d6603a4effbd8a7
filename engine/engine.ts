/**
 * The engine: one API for the mount, the tools and sync. A command is decided against the
 * current tree (pure), its events are signed into the next entry of the area's own feed and
 * applied to the projections at once (so reads see them), and the caller resumes when the
 * entry is durable. Many callers' entries share one write and one fsync (group commit).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_SIZE, toHex, type Entry, type Feed, type FeedId, type FsEvent, type NodeId } from '../log/index.js';
import { integrate, projectionsAhead, rebuild, ProjectionSet, ROOT_ID, type ReplayProgress } from '../projections/index.js';
import { BlockStore } from './block-store.js';
import type { Command } from './commands.js';
import { checkEvents, decide, type Decision } from './decide.js';
import { ParentMemo } from './parent-memo.js';
import { EngineError } from './engine-error.js';
import { KeyedMutex } from './keyed-mutex.js';
import { ContentGate } from './content-gate.js';
import type { NodeInfo } from './node-info.js';
import { Store, type OpenOptions, type StoreEnv } from './store.js';
import { ROOT_NODE, type TreeView } from './tree-view.js';
import { Snapshot, type DirEntry } from './snapshot.js';
import { headSource, pastSource } from './snapshot-source.js';
import { PlacementService } from './placement/service.js';

/** How long a reader opening beside a holder waits for it to write its held rows. */
/** Local events that never move or remove an existing directory (see Engine.pathGeneration). */
const PATH_KEEPING: ReadonlySet<FsEvent['type']> = new Set<FsEvent['type']>(['create', 'mkdir', 'symlink', 'link', 'unlink', 'write', 'truncate', 'commit', 'setattr', 'setxattr', 'removexattr']);

export interface EngineOptions extends OpenOptions {
  /** Progress of catching up or rebuilding projections at open. */
  readonly onReplay?: (p: ReplayProgress & { readonly rebuild: boolean }) => void;
  /**
   * Asked before a read-only open reads the projections: a reader beside the process holding
   * the store (a mount) sees its projections, whose latest rows the holder may keep in memory
   * for a while, so the tools ask the holder to write them first (engine/control: settle).
   */
  readonly settle?: (root: string) => Promise<void>;
}

export class Engine {
  readonly store: Store;
  readonly projections: ProjectionSet;
  readonly blocks: BlockStore;
  readonly env: StoreEnv;
  readonly view: TreeView;
  /** The read side at the head of the log. */
  readonly head: Snapshot;
  readonly #content = new KeyedMutex();
  #broken: Error | null = null;
  /** Held shared by writers between storing blocks and naming them; exclusively by gc. */
  readonly gate = new ContentGate();
  /** Projections built for this process alone (see open), removed at close. */
  #scratch: string | null = null;
  /** Set while received entries are being integrated: local commands wait for it. */
  #integrating: Promise<unknown> | null = null;
  /** Per own feed, the durability of the last entry staged (entries become durable in order). */
  readonly #lastDurable = new Map<string, Promise<unknown>>();
  /**
   * Real and Unreal (engine/placement/): fetches the blocks reads need that are not here,
   * keeps the content cache, realizes Real content. Null when the store is open read-only.
   */
  placement: PlacementService | null = null;
  /** See pathGeneration. */
  #pathGeneration = 0;
  /** The parent directory of the last removal decided (rm -rf removes a directory's entries in a row). */
  readonly #parents = new ParentMemo(() => this.#pathGeneration);
  readonly #newId = (): NodeId => this.newId();
  /**
   * Called after every change applied to the head (a local entry, entries received, a rebuild
   * after a failure), synchronously: the mount's native attribute cache forgets then.
   */
  readonly headChanged = new Set<() => void>();
  /**
   * Called first by every change made through the engine (submit, appendEvents, receive, a
   * rebuild, flush) and by ProjectionSet settle's callers beside it (control settle): whoever
   * holds changes decided but not yet applied (the mount's removals, mount/removal-queue.ts)
   * applies them here, so nothing is ordered or read ahead of them.
   */
  readonly beforeChange = new Set<() => void>();

  private constructor(store: Store, projections: ProjectionSet, blocks: BlockStore, env: StoreEnv) {
    this.store = store;
    this.projections = projections;
    this.blocks = blocks;
    this.env = env;
    this.head = new Snapshot(headSource(projections), blocks, projections.blockIndex, () => this.placement);
    const p = projections;
    this.view = {
      node: (id) => (id === ROOT_ID ? ROOT_NODE : p.tree.node(id)),
      child: (parent, name) => p.tree.child(parent, name),
      hasChildren: (id) => p.tree.hasChildren(id),
      isWithin: (id, ancestor) => p.tree.isWithin(id, ancestor),
      areaRoot: (area) => p.tree.areaRoot(area),
      xattr: (id, name) => p.xattrs.get(id, name),
    };
  }

  static async open(root: string, env: StoreEnv, opts: EngineOptions = {}): Promise<Engine> {
    const store = await Store.open(root, env, opts);
    if (store.readOnly) await opts.settle?.(root);
    let projections: ProjectionSet | undefined;
    let scratch: string | null = null;
    try {
      try {
        projections = ProjectionSet.open(store.layout.projections, { readOnly: store.readOnly });
      } catch (err) {
        // A reader that cannot use the store's projections (a read-only store that has none,
        // or ones of another format) builds its own from the log, in a scratch place.
        if (!store.readOnly) throw err;
        scratch = await mkdtemp(join(tmpdir(), 'realize-projections-'));
        projections = ProjectionSet.open(scratch);
      }
      const blocks = await BlockStore.open(store.layout.blocks, projections.blockIndex, { readOnly: store.readOnly });
      const engine = new Engine(store, projections, blocks, env);
      engine.#scratch = scratch;
      if (!store.readOnly) engine.placement = new PlacementService(engine);
      // A durable entry never names a block that is not: blocks are synced before each log write.
      store.feeds.beforeWrite = () => blocks.sync();
      if (!store.readOnly || scratch !== null) await engine.#catchUp(opts.onReplay);
      return engine;
    } catch (err) {
      await projections?.close();
      await store.close();
      if (scratch !== null) await rm(scratch, { recursive: true, force: true });
      throw err;
    }
  }

  async #catchUp(onReplay: EngineOptions['onReplay']): Promise<void> {
    const ahead = await projectionsAhead(this.projections, this.store.feeds);
    if (ahead !== null) {
      await rebuild(this.projections, this.store.feeds, (p) => onReplay?.({ ...p, rebuild: true }));
    } else {
      await integrate(this.projections, this.store.feeds, (p) => onReplay?.({ ...p, rebuild: false }));
    }
  }

  /**
   * Changes whenever an applied change may have moved or removed an existing directory
   * (rename, rmdir, area and peer events, anything received, a rebuild): a path resolved to a
   * directory id stays right while it holds (the mount's directory cache keys on it).
   */
  get pathGeneration(): number {
    return this.#pathGeneration;
  }

  get readOnly(): boolean {
    return this.store.readOnly;
  }

  newId(): NodeId {
    return toHex(this.env.randomBytes(16));
  }

  // ---------------------------------------------------------------- queries (the head)

  info(id: NodeId): NodeInfo | undefined {
    return this.head.info(id);
  }

  /** The node at `path` (symlinks are not followed). Throws NOT_FOUND / NOT_A_DIRECTORY. */
  stat(path: string): NodeInfo {
    return this.head.stat(path);
  }

  lookup(path: string): NodeInfo | undefined {
    return this.head.lookup(path);
  }

  readdir(path: string): DirEntry[] {
    return this.head.readdir(path);
  }

  readlink(path: string): string {
    return this.head.readlink(path);
  }

  getxattr(id: NodeId, name: string): Uint8Array {
    return this.head.getxattr(id, name);
  }

  listxattr(id: NodeId): string[] {
    return this.head.listxattr(id);
  }

  /** See Snapshot.read: with `into`, the bytes are read into it and the result is a view of it. */
  read(id: NodeId, offset: number, length: number, into?: Buffer): Promise<Buffer> {
    return this.head.read(id, offset, length, into);
  }

  contentState(id: NodeId): { hash: Uint8Array; commits: number; pending: number } | undefined {
    return this.head.contentState(id);
  }

  storedSize(id: NodeId): { logical: number; stored: number; blocks: number } {
    return this.head.storedSize(id);
  }

  /** The tree as it stood after `n` entries were applied (0 < n <= head). */
  at(n: number): Snapshot {
    if (!Number.isSafeInteger(n) || n < 0 || n > this.projections.head) {
      throw new EngineError('BAD_ARGUMENT', `no position ${n}: the log holds positions 0 to ${this.projections.head}`);
    }
    return n === this.projections.head ? this.head : new Snapshot(pastSource(this.projections, n), this.blocks, this.projections.blockIndex, () => this.placement);
  }

  // ---------------------------------------------------------------- commands

  /** Decides, appends and applies one command; resolves when its entry is durable. */
  async run(cmd: Command): Promise<Decision> {
    const { decision, durable } = await this.submit(cmd);
    await durable;
    return decision;
  }

  /**
   * Decides and applies one command now (reads see it on return) and hands back the
   * promise of its durability.
   */
  async submit(cmd: Command): Promise<{ decision: Decision; entry: Entry | null; durable: Promise<unknown> }> {
    this.#checkWritable();
    this.applyHeld();
    for (;;) {
      while (this.#integrating !== null) await this.#integrating.catch(() => undefined);
      const decision = this.#decide(cmd);
      if (decision.events.length === 0) return { decision, entry: null, durable: Promise.resolve() };
      const feed = this.store.feeds.get(this.#ownFeedName(decision.area));
      if (feed === undefined) {
        await this.store.feeds.own(decision.area);
        continue; // the tree may have changed while the feed opened: decide again
      }
      const { entry, durable } = this.#stage(feed, decision, true);
      return { decision, entry, durable };
    }
  }

  /** Decides a command on the head, with the engine's ids and clock. */
  #decide(cmd: Command): Decision {
    return decide(this.view, cmd, { newId: this.#newId, now: this.env.now(), parents: this.#parents });
  }

  /** Has every holder of decided changes apply them now (beforeChange). */
  applyHeld(): void {
    for (const f of this.beforeChange) f();
  }

  /**
   * Decides a command on the head without applying it, for a caller that answers it now and
   * applies its events a little later with others (stageDecided). Undefined when that cannot be
   * promised now (an integration under way): the caller submits it instead.
   */
  decideNow(cmd: Command): Decision | undefined {
    this.#checkWritable();
    if (this.#integrating !== null) return undefined;
    return this.#decide(cmd);
  }

  /**
   * Applies events decided by decideNow (nothing applied between them and now but what they
   * were decided with) as one entry of `area`'s own feed, synchronously, its rows held as a
   * command's. False when that cannot be done synchronously (an integration under way, the
   * area's own feed not open yet): the caller submits its commands instead.
   */
  stageDecided(area: string, events: readonly FsEvent[]): { durable: Promise<unknown> } | false {
    if (this.#integrating !== null) return false;
    const feed = this.store.feeds.get(this.#ownFeedName(area));
    if (feed === undefined) return false;
    return this.#stage(feed, { area, events }, true);
  }

  /**
   * Appends events decided elsewhere (import builds a fresh subtree whose ids nothing else
   * knows yet) to the area's own feed and applies them. They are checked as apply checks
   * them: a bad one is refused here rather than logged and then skipped.
   */
  async appendEvents(area: string, events: readonly FsEvent[]): Promise<Entry> {
    this.#checkWritable();
    this.applyHeld();
    checkEvents(events);
    while (this.#integrating !== null) await this.#integrating.catch(() => undefined);
    const feed = this.store.feeds.get(this.#ownFeedName(area)) ?? (await this.store.feeds.own(area));
    const { entry, durable } = this.#stage(feed, { area, events }, false);
    await durable;
    return entry;
  }

  /**
   * Takes entries of another peer's feed (received by sync): each is verified (signature,
   * chain, sequence) and appended to this store's replica of that feed, then applied in the
   * one order every peer uses, rewinding the projections when an entry arrived late.
   * Returns how many entries were new. Local commands wait while this runs.
   */
  async receive(feed: FeedId, entries: ReadonlyArray<Entry | Uint8Array>): Promise<number> {
    this.#checkWritable();
    this.applyHeld();
    while (this.#integrating !== null) await this.#integrating.catch(() => undefined);
    return this.#asIntegration(async () => {
      const replica = await this.store.feeds.replica(feed);
      const fresh = await replica.appendVerified(entries);
      if (fresh > 0) await integrate(this.projections, this.store.feeds);
      this.#pathGeneration++;
      this.#headChanged();
      return fresh;
    });
  }

  /** Runs `work` as the integration in progress: local commands and received entries wait for it. */
  async #asIntegration<T>(work: () => Promise<T>): Promise<T> {
    const running = work();
    this.#integrating = running;
    try {
      return await running;
    } finally {
      if (this.#integrating === running) this.#integrating = null;
    }
  }

  /** Heads for a new entry of `area`: how much of every other feed of the area is applied. */
  #heads(area: string, own: string): Array<readonly [string, number]> {
    const heads: Array<readonly [string, number]> = [];
    for (const [feed, pos] of this.projections.checkpoint.all()) {
      if (feed !== own && (area === '' ? !feed.includes('.') : feed.endsWith(`.${area}`))) heads.push([feed, pos.length] as const);
    }
    return heads;
  }

  #ownFeedName(area: string): string {
    return area === '' ? this.store.publicKey : `${this.store.publicKey}.${area}`;
  }

  /**
   * `hold`: the entry is one command's (a mount operation's), its rows held in memory with the
   * next ones' and written to LMDB together (ProjectionSet.applyLocal); an import's big entries
   * are applied in a transaction of their own.
   */
  #stage(feed: Feed, decision: Decision, hold: boolean): { entry: Entry; durable: Promise<unknown> } {
    const { entry, durable } = feed.stage(decision.events as never, this.#heads(decision.area, feed.name));
    if (hold) this.projections.applyLocal([entry]);
    else this.projections.applyEntries([entry]);
    if (!(decision.events as readonly FsEvent[]).every((e) => PATH_KEEPING.has(e.type))) this.#pathGeneration++;
    this.#headChanged();
    const settled = durable.catch(async (err: unknown) => {
      // The entry was applied but never made durable: the projections are ahead of the log.
      await this.#recover(err as Error);
      throw err;
    });
    this.#lastDurable.set(feed.name, settled);
    settled.catch(() => undefined); // reported to whoever awaits it (the command, fsync)
    return { entry, durable: settled };
  }

  /**
   * Brings the projections back to what the log holds after an applied entry failed to
   * become durable. It stands as the integration in progress, so new commands and received
   * entries wait for the rebuild instead of applying beside it.
   */
  async #recover(cause: Error): Promise<void> {
    if (this.#broken !== null) return;
    this.#broken = cause;
    const before = this.#integrating;
    await this.#asIntegration(async () => {
      try {
        await before?.catch(() => undefined);
        while (this.store.feeds.list().some((f) => f.pending > 0)) await new Promise((r) => setImmediate(r));
        await rebuild(this.projections, this.store.feeds);
      } finally {
        this.#pathGeneration++;
        this.#broken = null;
        this.#headChanged();
      }
    });
  }

  #headChanged(): void {
    for (const f of this.headChanged) f();
  }

  #checkWritable(): void {
    if (this.store.readOnly) throw new EngineError('READ_ONLY', 'the store is open read-only');
  }

  /** Writes `data` at `offset` of file `id`: only the blocks it covers change. */
  async write(id: NodeId, offset: number, data: Uint8Array): Promise<void> {
    if (data.byteLength === 0) return;
    await this.#content.run(id, () => this.gate.shared(async () => {
      const row = this.head.fileRow(id);
      const end = offset + data.byteLength;
      const size = Math.max(row.size, end);
      const first = Math.floor(offset / BLOCK_SIZE);
      const last = Math.floor((end - 1) / BLOCK_SIZE);
      const contents: Uint8Array[] = [];
      for (let i = first; i <= last; i++) {
        const blockStart = i * BLOCK_SIZE;
        const blockLen = Math.min(BLOCK_SIZE, size - blockStart);
        const from = Math.max(offset, blockStart) - blockStart;
        const to = Math.min(end, blockStart + BLOCK_SIZE) - blockStart;
        const piece = data.subarray(blockStart + from - offset, blockStart + to - offset);
        if (from === 0 && to === blockLen) {
          contents.push(piece);
          continue;
        }
        const buf = Buffer.alloc(blockLen);
        if (blockStart < row.size) {
          const old = await this.head.readBlocks(row.blocks, row.size, blockStart, blockLen);
          buf.set(old);
        }
        buf.set(piece, from);
        contents.push(buf);
      }
      const hashes = await this.blocks.putMany(contents);
      await this.run({ type: 'write', id, size, blocks: hashes.map((h, k) => [first + k, h] as const) });
    }));
  }

  /** Sets the size of file `id`; a cut inside a block stores that block's new content. */
  async truncate(id: NodeId, size: number): Promise<void> {
    await this.#content.run(id, () => this.gate.shared(async () => {
      const row = this.head.fileRow(id);
      let tail: Uint8Array | null = null;
      const inBlock = size % BLOCK_SIZE;
      if (size < row.size && inBlock !== 0) {
        const start = size - inBlock;
        tail = await this.blocks.put(await this.head.readBlocks(row.blocks, row.size, start, inBlock));
      }
      await this.run({ type: 'truncate', id, size, tail });
    }));
  }

  /** Folds the file's pending writes into a new content version (if there are any). */
  async commit(id: NodeId): Promise<void> {
    const row = this.projections.content.row(id);
    if (row === undefined || (row.pending === 0 && row.version !== null)) return;
    await this.run({ type: 'commit', id });
  }

  /** Waits until everything staged so far is durable; throws if any of it failed. */
  async flush(): Promise<void> {
    this.applyHeld();
    await this.blocks.sync();
    await Promise.all([...this.#lastDurable.values()]);
  }

  async close(): Promise<void> {
    await this.placement?.close();
    await this.blocks.close();
    await this.store.close();
    await this.projections.close();
    if (this.#scratch !== null) await rm(this.#scratch, { recursive: true, force: true });
  }
}
