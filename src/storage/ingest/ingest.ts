import { createHash } from 'node:crypto';
import { CairnError, isCairnError } from '../../core/errors.js';
import type { BlobIndex } from '../blob-index.js';
import { DEFAULT_CHUNK_PARAMS, type ChunkParams } from '../chunker/index.js';
import { discardSealed } from '../objects/discard.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import { BlobKind } from '../pack/format.js';
import type { FinishedPack } from '../pack/writer.js';
import {
  cachedEntry,
  UNTRUSTED_STAT,
  type StatCacheData,
  type StatCacheToSave,
  type StatEntries,
  type StatEntry,
} from '../statcache/stat-cache.js';
import { buildTree, type BuiltTree, type FlatEntry } from '../tree/build.js';
import { EMPTY_FILE_DIGEST } from '../tree/node.js';
import type { WorkerPool } from '../workers/pool.js';
import {
  RING_HEADER,
  type FileStat,
  type HashChunksReply,
  type LargeChunksMessage,
  type LargeDoneMessage,
  type SmallFileReply,
  type WorkerReply,
} from '../workers/protocol.js';
import { DEFAULT_PACK_TARGET, PackRoller } from './pack-roller.js';
import { scanSource, type Scan, type ScannedFile } from './scan.js';

export interface IngestDeps {
  packs: LocalPackDir;
  index: BlobIndex;
  pool: WorkerPool;
  chunkParams?: ChunkParams;
  packTarget?: number;
}

export interface IngestProgress {
  phase: 'scan' | 'hash' | 'seal';
  files: number;
  filesTotal: number;
  bytes: number;
  bytesTotal: number;
}

export interface IngestOptions {
  source: string;
  /** A scan of `source` made moments ago (saves walking the tree twice). */
  scan?: Scan;
  statCache: StatCacheData | null;
  onProgress?: (p: IngestProgress) => void;
}

export interface IngestResult {
  tree: BuiltTree;
  /** New blobs written this time (what deduplication could not avoid). */
  newBytes: number;
  newChunks: number;
  chunkCount: number;
  filesFromCache: number;
  packs: FinishedPack[];
  /** Entries to store in the stat cache for the next run (made one at a time as they are saved). */
  statCache: StatCacheToSave;
  /** Paths and sizes of every file, for statistics. */
  files: Array<{ path: string; size: number }>;
  /**
   * Call when the packs will not be recorded (the commit failed, or nothing new was added):
   * they are removed where that is certainly safe (objects/discard.ts), else left as orphans
   * that the next add adopts and `gc` removes.
   */
  discard(): Promise<void>;
}

const SMALL_BATCH_FILES = 512;
const MAX_STREAMS = 4;
const SMALL_BATCH_BYTES = 8 * 1024 * 1024;
/** New bytes read into each ring slot (plus room for one unfinished chunk). */
const RING_BLOCK = 8 * 1024 * 1024;

interface FileResult {
  /** The scanned file: its stat values become the stat-cache entry without a copy per file. */
  file: ScannedFile;
  digest: string;
  chunks: string[];
  /**
   * The file changed between the walk and the read (its stat when read differs from the
   * walk's): it keeps the digest read, but its stat-cache entry never matches. Decided when
   * the result arrives, so no per-file stat is kept (memory per file, issue 16).
   */
  changed: boolean;
}

/** Whether the stat a worker took when reading differs from the walk's (`null`: not read). */
function changedSince(f: ScannedFile, st: FileStat | null): boolean {
  return st !== null && (st.size !== f.size || st.mtimeMs !== f.mtimeMs || st.ino !== f.ino);
}

/**
 * Snapshots a file or directory into the store: scan → (stat cache | workers hash and chunk)
 * → deduplicate against the chunk index → append new blobs to packs → build trees. Nothing
 * is committed to metadata here; the caller records the packs and the version in one
 * transaction after `packs` are durable.
 */
export async function ingest(deps: IngestDeps, opts: IngestOptions): Promise<IngestResult> {
  const params = deps.chunkParams ?? DEFAULT_CHUNK_PARAMS;
  const scan: Scan = opts.scan ?? scanSource(opts.source);
  await deps.packs.ensure();
  const run = new IngestSession(deps, opts, params, scan);
  try {
    // 1. Stat-cache hits skip reading, but only if their chunks are still in the store.
    const toHash = await run.reuseCached();
    // 2. Everything else goes to the workers: tiny files in batches, larger ones streamed.
    const plan = planHashing(toHash, params.min);
    for (const f of plan.empty) run.done(f, { file: f, digest: EMPTY_FILE_DIGEST, chunks: [], changed: false }, 0);
    await run.hashAll(plan);
    // 3. Trees, written into the same packs.
    const tree = buildTree(flatEntries(scan, run.results));
    await run.storeTrees(tree);
    opts.onProgress?.({ ...run.progress, phase: 'seal' });
    const packs = await run.roller.finish();
    let chunkCount = 0;
    for (const r of run.results.values()) chunkCount += r.chunks.length;
    return {
      tree,
      newBytes: run.newBytes,
      newChunks: run.newChunks,
      chunkCount,
      filesFromCache: run.filesFromCache,
      packs,
      statCache: {
        v: 2,
        root: opts.source,
        scannedAtMs: scan.startedAtMs,
        version: tree.rootId,
        links: scan.symlinks.map((l) => [l.path, l.target] as [string, string]),
        dirs: scan.dirs,
        entries: new ResultEntries(scan, run.results),
      },
      // The scan's own records (they carry path and size): no second per-file list.
      files: scan.files,
      discard: () => discardSealed(packs, deps),
    };
  } catch (err) {
    await run.roller.discard(deps.index);
    throw err;
  }
}

export interface HashPlan {
  empty: ScannedFile[];
  /** Files up to one chunk, in batches of at most SMALL_BATCH_FILES files / SMALL_BATCH_BYTES. */
  small: ScannedFile[][];
  large: ScannedFile[];
}

/** Which files are empty, which go to the workers in batches, which are streamed (pure). */
export function planHashing(files: readonly ScannedFile[], minChunk: number): HashPlan {
  const plan: HashPlan = { empty: [], small: [], large: [] };
  let batch: ScannedFile[] = [];
  let batchBytes = 0;
  for (const f of files) {
    if (f.size === 0) {
      plan.empty.push(f);
    } else if (f.size <= minChunk) {
      if (batch.length >= SMALL_BATCH_FILES || batchBytes + f.size > SMALL_BATCH_BYTES) {
        plan.small.push(batch);
        batch = [];
        batchBytes = 0;
      }
      batch.push(f);
      batchBytes += f.size;
    } else {
      plan.large.push(f);
    }
  }
  if (batch.length > 0) plan.small.push(batch);
  return plan;
}

/**
 * The tree builder's input: every directory, link and file with its hashed content (pure),
 * generated one entry at a time so that no second per-file list is held while the tree is built.
 */
export function* flatEntries(scan: Scan, results: ReadonlyMap<string, FileResult>): Generator<FlatEntry> {
  for (const d of scan.dirs) yield { path: d, type: 'dir' };
  for (const s of scan.symlinks) yield { path: s.path, type: 'symlink', target: s.target };
  for (const f of scan.files) {
    const r = results.get(f.path)!;
    yield { path: f.path, type: 'file', size: f.size, mode: f.mode, digest: r.digest, chunks: r.chunks };
  }
}

/**
 * The stat cache for the next run, as a view of the scan and the results: each entry is made
 * when the cache is written, so a million of them are never held at once (issue 16).
 */
export class ResultEntries implements StatEntries {
  constructor(
    readonly scan: Scan,
    readonly results: ReadonlyMap<string, FileResult>,
  ) {}

  get size(): number {
    return this.scan.files.length;
  }

  *keys(): Generator<string> {
    for (const f of this.scan.files) yield f.path;
  }

  get(path: string): StatEntry | undefined {
    const r = this.results.get(path);
    if (!r) return undefined;
    const f = r.file;
    // A file that changed between walk and read keeps its digest (that is what was stored)
    // but stat values that never match, so the next run reads it again.
    return {
      ...(r.changed ? UNTRUSTED_STAT : { ino: f.ino, mtimeMs: f.mtimeMs, ctimeMs: f.ctimeMs }),
      size: f.size,
      mode: f.mode,
      digest: r.digest,
      ...(r.chunks.length > 1 || (r.chunks.length === 1 && r.chunks[0] !== r.digest) ? { chunks: r.chunks } : {}),
    };
  }
}

/** The state of one ingest: packs being written, blobs already stored, each file's result. */
class IngestSession {
  readonly roller: PackRoller;
  readonly rings: RingPool;
  readonly ringSlotSize: number;
  readonly written = new Set<string>();
  readonly results = new Map<string, FileResult>();
  readonly progress: IngestProgress;
  newBytes = 0;
  newChunks = 0;
  filesFromCache = 0;

  constructor(
    readonly deps: IngestDeps,
    readonly opts: IngestOptions,
    readonly params: ChunkParams,
    readonly scan: Scan,
  ) {
    this.roller = new PackRoller(deps.packs, deps.packTarget ?? DEFAULT_PACK_TARGET);
    this.ringSlotSize = RING_BLOCK + params.max;
    this.rings = new RingPool(this.ringSlotSize);
    this.progress = { phase: 'hash', files: 0, filesTotal: scan.files.length, bytes: 0, bytesTotal: scan.totalBytes };
    opts.onProgress?.({ ...this.progress, phase: 'scan' });
  }

  report(files: number, bytes: number): void {
    this.progress.files += files;
    this.progress.bytes += bytes;
    this.opts.onProgress?.(this.progress);
  }

  done(f: ScannedFile, r: FileResult, bytes: number): void {
    this.results.set(f.path, r);
    this.report(1, bytes);
  }

  /** Records the stat-cache hits whose chunks are all still stored; returns the files to hash. */
  async reuseCached(): Promise<ScannedFile[]> {
    const toHash: ScannedFile[] = [];
    const hits: Array<{ f: ScannedFile; e: StatEntry }> = [];
    for (const f of this.scan.files) {
      const e = cachedEntry(this.opts.statCache, f.path, f);
      if (e) hits.push({ f, e });
      else toHash.push(f);
    }
    if (hits.length === 0) return toHash;
    const needed = new Set<string>();
    for (const { e } of hits) for (const c of e.chunks ?? (e.size > 0 ? [e.digest] : [])) needed.add(c);
    const present = await hasAll(this.deps.index, [...needed]);
    for (const h of hits) {
      const chunks = h.e.chunks ?? (h.e.size > 0 ? [h.e.digest] : []);
      if (chunks.every((c) => present.has(c))) {
        this.filesFromCache++;
        this.done(h.f, { file: h.f, digest: h.e.digest, chunks, changed: false }, h.f.size);
      } else {
        toHash.push(h.f);
      }
    }
    return toHash;
  }

  /** Runs the plan on the workers, large files first (they are the long poles). */
  async hashAll(plan: HashPlan): Promise<void> {
    const limit = new Semaphore(this.deps.pool.size * 2);
    let failed = false;
    const guarded = (fn: () => Promise<void>) =>
      limit.run(async () => {
        if (failed) return;
        try {
          await fn();
        } catch (err) {
          failed = true;
          throw err;
        }
      });
    // A streaming reader holds its worker; leave one free for the chunk hashing it feeds, and
    // cap the streams so the rings' memory stays bounded.
    const largeLimit = new Semaphore(Math.min(MAX_STREAMS, Math.max(1, this.deps.pool.size - 1)));
    const jobs: Array<Promise<void>> = [];
    for (const f of plan.large) jobs.push(guarded(() => largeLimit.run(() => this.hashLarge(f))));
    for (const b of plan.small) jobs.push(guarded(() => this.hashSmall(b)));
    await settleAll(jobs);
  }

  /** Appends the blobs not yet stored; `view(i)` gives the bytes of candidate i. */
  async storeNew(ids: string[], view: (i: number) => Uint8Array): Promise<void> {
    const unseen = [...new Set(ids.filter((id) => !this.written.has(id)))];
    const known = unseen.length > 0 ? await this.deps.index.has(unseen) : new Set<string>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (this.written.has(id) || known.has(id)) continue;
      this.written.add(id);
      const bytes = view(i);
      await this.roller.append(BlobKind.chunk, id, bytes);
      this.newBytes += bytes.length;
      this.newChunks++;
    }
  }

  async storeTrees(tree: BuiltTree): Promise<void> {
    const ids = tree.nodes.map((n) => n.id);
    const bytes = new Map(tree.nodes.map((n) => [n.id, n.bytes]));
    const unseen = ids.filter((id) => !this.written.has(id));
    const known = unseen.length ? await this.deps.index.has(unseen) : new Set<string>();
    for (const id of ids) {
      if (this.written.has(id) || known.has(id)) continue;
      this.written.add(id);
      const b = bytes.get(id)!;
      await this.roller.append(BlobKind.tree, id, b);
      this.newBytes += b.length;
    }
  }

  async hashSmall(files: ScannedFile[]): Promise<void> {
    const reply = (await this.deps.pool.run({
      type: 'small',
      files: files.map((f) => ({ path: f.abs, size: f.size })),
    })) as SmallFileReply;
    const data = Buffer.from(reply.data);
    const ids: string[] = [];
    const views: Uint8Array[] = [];
    for (let i = 0; i < files.length; i++) {
      const r = reply.results[i]!;
      const f = files[i]!;
      if (!r.ok) throw fileError(f, r.error);
      this.results.set(f.path, {
        file: f,
        digest: r.digest,
        chunks: r.size > 0 ? [r.digest] : [],
        changed: changedSince(f, r.stat),
      });
      if (r.size > 0) {
        ids.push(r.digest);
        views.push(data.subarray(r.offset, r.offset + r.size));
      }
    }
    await this.storeNew(ids, (i) => views[i]!);
    await this.roller.drainIfBusy();
    this.report(
      files.length,
      files.reduce((n, f) => n + f.size, 0),
    );
  }

  /** Stores one ring slot's chunks (hashed by another worker when `split`); returns their ids. */
  async storeSlot(
    ring: SharedArrayBuffer,
    m: LargeChunksMessage,
    offset: number,
    view: Buffer,
    split: boolean,
  ): Promise<string[]> {
    const bytes = m.chunks.reduce((n, c) => n + c.length, 0);
    const ranges = m.chunks.map((c) => ({ offset: c.offset, length: c.length }));
    const ids = split
      ? (
          (await this.deps.pool.run({
            type: 'hash-chunks',
            ring,
            offset,
            length: this.ringSlotSize,
            chunks: ranges,
          })) as HashChunksReply
        ).result.ids
      : m.chunks.map((c) => c.id);
    await this.storeNew(ids, (k) => view.subarray(ranges[k]!.offset, ranges[k]!.offset + ranges[k]!.length));
    // The slot's memory may be reused only after the kernel has copied it.
    await this.roller.written();
    this.report(0, bytes);
    return ids;
  }

  async hashLarge(f: ScannedFile): Promise<void> {
    // With more than one worker, the reader only finds boundaries; chunk ids are computed by
    // other workers and the whole-file digest here, so one big file uses several cores.
    const split = this.deps.pool.size > 1;
    const ring = this.rings.acquire();
    const states = new Int32Array(ring, 0, RING_SLOTS);
    const release = (slot: number) => {
      Atomics.store(states, slot, 0);
      Atomics.notify(states, slot);
    };
    const whole = createHash('sha256');
    const parts: string[][] = [];
    const work: Array<Promise<void>> = [];
    let failure: unknown = null;
    let seq = 0;
    let reply: WorkerReply;
    try {
      reply = await this.deps.pool.run(
        {
          type: 'large',
          path: f.abs,
          mode: split ? 'split' : 'full',
          ring,
          slots: RING_SLOTS,
          slotSize: this.ringSlotSize,
          chunkParams: this.params,
        },
        {
          onMessage: (msg) => {
            if (msg.type !== 'large-chunks') return;
            const m = msg as LargeChunksMessage;
            const i = seq++;
            const offset = RING_HEADER + m.slot * this.ringSlotSize;
            const view = Buffer.from(ring, offset, this.ringSlotSize);
            if (split) for (const c of m.chunks) whole.update(view.subarray(c.offset, c.offset + c.length));
            work.push(
              this.storeSlot(ring, m, offset, view, split)
                .then((ids) => {
                  parts[i] = ids;
                })
                .catch((err) => {
                  failure ??= err;
                })
                .finally(() => release(m.slot)),
            );
          },
          onDrop: (msg) => {
            if (msg.type === 'large-chunks') release((msg as LargeChunksMessage).slot);
          },
        },
      );
      await Promise.all(work);
      if (failure) throw failure;
    } catch (err) {
      await Promise.allSettled(work);
      // Name the file the same way for every size: relative path in data, absolute in the message.
      if (isCairnError(err, 'IO_ERROR'))
        throw fileError(f, { code: String(err.data.errno ?? 'ERROR'), message: err.message });
      throw err instanceof CairnError
        ? err
        : fileError(f, { code: (err as NodeJS.ErrnoException).code ?? 'ERROR', message: (err as Error).message });
    } finally {
      this.rings.release(ring);
    }
    const done = reply as LargeDoneMessage;
    const chunks = parts.flat();
    if (done.chunkCount !== chunks.length) throw new CairnError('INTERNAL', `chunk count mismatch for ${f.path}`);
    this.results.set(f.path, {
      file: f,
      digest: split ? whole.digest('hex') : done.digest,
      chunks,
      changed: changedSince(f, done.stat),
    });
    this.report(1, 0);
  }
}

const RING_SLOTS = 6;

/** Rings are big (slots × ~9 MiB): reuse them across the files of one ingest. */
class RingPool {
  readonly #free: SharedArrayBuffer[] = [];
  constructor(readonly slotSize: number) {}
  acquire(): SharedArrayBuffer {
    const r = this.#free.pop() ?? new SharedArrayBuffer(RING_HEADER + RING_SLOTS * this.slotSize);
    new Int32Array(r, 0, RING_SLOTS).fill(0);
    return r;
  }
  release(r: SharedArrayBuffer): void {
    this.#free.push(r);
  }
}

async function hasAll(index: BlobIndex, ids: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (let i = 0; i < ids.length; i += 5000) {
    for (const id of await index.has(ids.slice(i, i + 5000))) out.add(id);
  }
  return out;
}

function fileError(f: ScannedFile, e: { code: string; message: string }): CairnError {
  const why =
    e.code === 'ENOENT'
      ? 'it disappeared during the add'
      : e.code === 'EACCES' || e.code === 'EPERM'
        ? 'permission denied'
        : e.code === 'ECHANGED'
          ? 'it changed while being read; try again'
          : e.message;
  return new CairnError('IO_ERROR', `cannot read ${f.abs}: ${why}`, { data: { path: f.path, errno: e.code } });
}

/** Waits for every job; rethrows the first failure only after all have stopped. */
async function settleAll(jobs: Array<Promise<void>>): Promise<void> {
  const settled = await Promise.allSettled(jobs);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];
  constructor(n: number) {
    this.#free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiters.push(r));
    try {
      return await fn();
    } finally {
      const next = this.#waiters.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
