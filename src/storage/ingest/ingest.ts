import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { basename } from 'node:path';
import { CairnError, ioError, isCairnError } from '../../core/errors.js';
import type { BlobIndex } from '../blob-index.js';
import { DEFAULT_CHUNK_PARAMS, type ChunkParams } from '../chunker/index.js';
import { discardSealed } from '../objects/discard.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import { BlobKind, type BlobKindCode } from '../pack/format.js';
import type { FinishedPack } from '../pack/writer.js';
import { racy, UNTRUSTED_STAT, type StatEntry } from '../statcache/stat-cache.js';
import { StatCacheWriter, type PriorCache } from '../statcache/stream.js';
import { UNKNOWN_DIR } from '../statcache/binary.js';
import { checkTreeLinks } from '../tree/links.js';
import { compareNames, EMPTY_FILE_DIGEST, encodeTree, type TreeEntry } from '../tree/node.js';
import type { WorkerPool } from '../workers/pool.js';
import {
  RING_HEADER,
  type FileStat,
  type HashChunksReply,
  type LargeChunksMessage,
  type LargeDoneMessage,
  SMALL_FIELDS,
  SMALL_OFFSET,
  SMALL_SIZE,
  type SmallFileReply,
  type WorkerReply,
} from '../workers/protocol.js';
import { ExtensionTally, type ExtensionStat } from './extensions.js';
import { DEFAULT_PACK_TARGET, PackRoller } from './pack-roller.js';
import { listingOf, scanFolder, type FolderListing, type ScannedFile } from './scan.js';

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
  /** The cache of `source` from the last add or checkout: unchanged files are not read again. */
  statCache: PriorCache | null;
  /** Where to write the stat cache for the next run (record by record); none when omitted. */
  statCacheDir?: string;
  onProgress?: (p: IngestProgress) => void;
}

/** What the version's tree holds (the nodes themselves are already in the packs). */
export interface IngestedTree {
  rootId: string;
  files: number;
  bytes: number;
  dirs: number;
  symlinks: number;
}

export interface IngestResult {
  tree: IngestedTree;
  /** New blobs written this time (what deduplication could not avoid). */
  newBytes: number;
  newChunks: number;
  chunkCount: number;
  filesFromCache: number;
  packs: FinishedPack[];
  /** File count and bytes per extension, gathered during the walk. */
  extensions: ExtensionStat[];
  /**
   * Makes the stat cache written during the walk the cache of `source` (call after the version
   * is committed); a no-op without `statCacheDir`.
   */
  saveStatCache(): void;
  /**
   * Call when the packs will not be recorded (the commit failed, or nothing new was added):
   * they are removed where that is certainly safe (objects/discard.ts), else left as orphans
   * that the next add adopts and `gc` removes. The unsaved stat cache goes too.
   */
  discard(): Promise<void>;
}

const SMALL_BATCH_FILES = 512;
const MAX_STREAMS = 4;
const SMALL_BATCH_BYTES = 8 * 1024 * 1024;
/** New bytes read into each ring slot (plus room for one unfinished chunk). */
const RING_BLOCK = 8 * 1024 * 1024;

interface FileResult {
  digest: string;
  chunks: string[];
  /**
   * The length of what was read and stored: the walk's size unless the file changed in between
   * (a tree entry's size must be its content's, or checkout and verify disagree with the version).
   */
  size: number;
  /**
   * The file changed between the walk and the read (its stat when read differs from the
   * walk's): it keeps the digest read, but its stat-cache entry never matches.
   */
  changed: boolean;
}

/** Whether the stat a worker took when reading differs from the walk's (`null`: not read). */
function changedSince(f: ScannedFile, st: FileStat | null): boolean {
  return st !== null && (st.size !== f.size || st.mtimeMs !== f.mtimeMs || st.ino !== f.ino);
}

/**
 * Snapshots a file or directory into the store, one folder at a time and bottom-up: a folder's
 * files are looked up in the stat cache or hashed by the workers (new blobs appended to packs),
 * then its tree node is encoded and appended, its stat-cache record written, and its entries
 * dropped; the parent keeps only the child's id and totals. Memory is bounded by the folders
 * in flight, not by the tree (issue 16). Nothing is committed to metadata here; the caller
 * records the packs and the version in one transaction after `packs` are durable.
 */
export async function ingest(deps: IngestDeps, opts: IngestOptions): Promise<IngestResult> {
  const params = deps.chunkParams ?? DEFAULT_CHUNK_PARAMS;
  let st: fs.Stats;
  try {
    st = fs.lstatSync(opts.source);
  } catch (err) {
    throw ioError(err, 'read', opts.source);
  }
  await deps.packs.ensure();
  const startedAtMs = Date.now();
  const cache = opts.statCacheDir ? new StatCacheWriter(opts.statCacheDir, opts.source, startedAtMs) : null;
  const run = new IngestSession(deps, opts, params, cache);
  try {
    let root: FolderDone;
    if (st.isDirectory()) {
      const base = opts.source.endsWith('/') ? opts.source : `${opts.source}/`;
      root = await run.walk(opts.source, '', base);
    } else {
      // One file: a root folder holding it alone.
      const name = basename(opts.source);
      const base = opts.source.slice(0, opts.source.length - name.length);
      root = await run.folder('', base, listingOf([{ name, st }], '', base));
    }
    // A chain of links can leave the tree when no single link does: checked against all of them.
    checkTreeLinks(run.links);
    opts.onProgress?.({ ...run.progress, phase: 'seal' });
    const packs = await run.roller.finish();
    cache?.finish(root.id);
    return {
      tree: { rootId: root.id, files: root.files, bytes: root.size, dirs: run.dirs, symlinks: run.links.length },
      newBytes: run.newBytes,
      newChunks: run.newChunks,
      chunkCount: run.chunkCount,
      filesFromCache: run.filesFromCache,
      packs,
      extensions: run.extensions.top(),
      saveStatCache: () => cache?.save(),
      discard: async () => {
        cache?.discard();
        await discardSealed(packs, deps);
      },
    };
  } catch (err) {
    run.abandon(err);
    await run.idle();
    cache?.discard();
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

interface FolderDone {
  id: string;
  /** File bytes and file count below the folder. */
  size: number;
  files: number;
}

type Deferred = { f: ScannedFile; resolve: (r: FileResult) => void; reject: (err: unknown) => void };

/**
 * The state of one ingest: packs being written, blobs already stored, the batch of small files
 * being filled (it spans folders, so a tree of tiny folders still reaches the workers in
 * batches), and the jobs in flight.
 */
class IngestSession {
  readonly roller: PackRoller;
  readonly rings: RingPool;
  readonly ringSlotSize: number;
  readonly written = new Set<string>();
  readonly progress: IngestProgress;
  readonly links: Array<{ path: string; target: string }> = [];
  readonly extensions = new ExtensionTally();
  readonly #limit: Semaphore;
  readonly #largeLimit: Semaphore;
  #batch: Deferred[] = [];
  #batchBytes = 0;
  #inflight = 0;
  #idle: Array<() => void> = [];
  failed = false;
  #failure: unknown = null;
  newBytes = 0;
  newChunks = 0;
  chunkCount = 0;
  filesFromCache = 0;
  dirs = 0;

  constructor(
    readonly deps: IngestDeps,
    readonly opts: IngestOptions,
    readonly params: ChunkParams,
    readonly cache: StatCacheWriter | null,
  ) {
    this.roller = new PackRoller(deps.packs, deps.packTarget ?? DEFAULT_PACK_TARGET);
    this.ringSlotSize = RING_BLOCK + params.max;
    this.rings = new RingPool(this.ringSlotSize);
    this.progress = { phase: 'hash', files: 0, filesTotal: 0, bytes: 0, bytesTotal: 0 };
    this.#limit = new Semaphore(deps.pool.size * 2);
    // A streaming reader holds its worker; leave one free for the chunk hashing it feeds, and
    // cap the streams so the rings' memory stays bounded.
    this.#largeLimit = new Semaphore(Math.min(MAX_STREAMS, Math.max(1, deps.pool.size - 1)));
    opts.onProgress?.({ ...this.progress, phase: 'scan' });
  }

  report(files: number, bytes: number): void {
    this.progress.files += files;
    this.progress.bytes += bytes;
    this.opts.onProgress?.(this.progress);
  }

  /** Walks the tree below `abs` depth-first; resolves with the root's node once all is stored. */
  async walk(abs: string, rel: string, base: string): Promise<FolderDone> {
    const started = await this.#start(abs, rel, base);
    await this.#flush();
    return started.done;
  }

  /** The same for a folder whose listing is already made (the single-file source). */
  async folder(rel: string, base: string, listing: FolderListing): Promise<FolderDone> {
    const started = await this.#started(rel, base, listing);
    await this.#flush();
    return started.done;
  }

  /**
   * Scans one folder and hands its files to the workers, then its subfolders, in order; the
   * returned `done` settles when the folder's node is stored. Resolving once the work is
   * handed out (not done) lets the walk run ahead while the workers hash, as far as the
   * semaphore allows: that bounds the memory.
   */
  async #start(abs: string, rel: string, base: string): Promise<{ done: Promise<FolderDone> }> {
    if (this.failed) throw this.#failure;
    return this.#started(rel, base, scanFolder(abs, rel, base));
  }

  async #started(rel: string, base: string, listing: FolderListing): Promise<{ done: Promise<FolderDone> }> {
    this.progress.filesTotal += listing.files.length;
    for (const f of listing.files) this.progress.bytesTotal += f.size;
    for (const l of listing.symlinks) this.links.push({ path: l.path, target: l.target });
    const own = await this.#submit(rel, listing.files);
    const children: Array<Promise<FolderDone>> = [];
    for (const name of listing.dirs) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      children.push((await this.#start(base + childRel, childRel, base)).done);
    }
    const done = this.#track(this.#complete(rel, listing, own, children));
    // Settled by the parent (or ingest); marked handled so a failure elsewhere leaves no stray rejection.
    done.catch(() => {});
    return { done };
  }

  /** Each file's result: from the stat cache when it vouches, else from the workers. */
  async #submit(rel: string, files: readonly ScannedFile[]): Promise<Promise<FileResult[]>[]> {
    const out: Array<Promise<FileResult[]>> = [];
    if (files.length === 0) return out;
    const results: Array<FileResult | Promise<FileResult>> = new Array(files.length);
    const toHash: number[] = [];
    const prior = this.opts.statCache;
    const cached = prior?.folder(rel);
    const hits: Array<{ i: number; e: StatEntry }> = [];
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      const e = cached?.get(f.path.slice(f.path.lastIndexOf('/') + 1));
      if (
        e &&
        e.ino === f.ino &&
        e.size === f.size &&
        e.mtimeMs === f.mtimeMs &&
        e.ctimeMs === f.ctimeMs &&
        !racy(e, prior!.scannedAtMs)
      )
        hits.push({ i, e });
      else toHash.push(i);
    }
    if (hits.length > 0) {
      // Stat-cache hits skip reading, but only if their chunks are still in the store.
      const needed = new Set<string>();
      for (const { e } of hits) for (const c of e.chunks ?? (e.size > 0 ? [e.digest] : [])) needed.add(c);
      const present = await hasAll(this.deps.index, [...needed]);
      for (const { i, e } of hits) {
        const chunks = e.chunks ?? (e.size > 0 ? [e.digest] : []);
        if (chunks.every((c) => present.has(c))) {
          this.filesFromCache++;
          results[i] = { digest: e.digest, chunks, size: e.size, changed: false };
          this.report(1, e.size);
        } else toHash.push(i);
      }
    }
    for (const i of toHash) {
      const f = files[i]!;
      if (f.size === 0) {
        results[i] = { digest: EMPTY_FILE_DIGEST, chunks: [], size: 0, changed: false };
        this.report(1, 0);
      } else if (f.size <= this.params.min) {
        results[i] = new Promise<FileResult>((resolve, reject) => {
          this.#batch.push({ f, resolve, reject });
        });
        this.#batchBytes += f.size;
        if (this.#batch.length >= SMALL_BATCH_FILES || this.#batchBytes >= SMALL_BATCH_BYTES) await this.#flush();
      } else {
        await this.#limit.acquire();
        results[i] = this.#track(this.#largeLimit.run(() => this.hashLarge(f))).finally(() => this.#limit.release());
      }
    }
    for (const r of results) if (r instanceof Promise) r.catch(() => {});
    // Consumed by #complete, unless a later folder's scan fails first (a FIFO below): then the
    // abandoned batch rejects it, and nothing may be left unhandled.
    const all = Promise.all(results);
    all.catch(() => {});
    out.push(all);
    return out;
  }

  /** Hands the batch of small files being filled to a worker (waiting for a free slot first). */
  async #flush(): Promise<void> {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    try {
      await this.#limit.acquire();
    } catch (err) {
      for (const d of batch) d.reject(err);
      throw err;
    }
    void this.#track(this.hashSmall(batch.map((d) => d.f)))
      .then(
        (rs) => rs.forEach((r, k) => batch[k]!.resolve(r)),
        (err) => {
          for (const d of batch) d.reject(err);
        },
      )
      .finally(() => this.#limit.release());
  }

  /** After a failure: the files waiting for a batch will never be hashed. */
  abandon(err: unknown): void {
    this.failed = true;
    this.#failure ??= err;
    const batch = this.#batch;
    this.#batch = [];
    for (const d of batch) d.reject(err);
  }

  /** Resolves when no job of this ingest is running any more (so packs can be discarded). */
  async idle(): Promise<void> {
    while (this.#inflight > 0) await new Promise<void>((r) => this.#idle.push(r));
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight++;
    return p
      .catch((err: unknown) => {
        this.failed = true;
        this.#failure ??= err;
        throw err;
      })
      .finally(() => {
        this.#inflight--;
        if (this.#inflight === 0) for (const r of this.#idle.splice(0)) r();
      });
  }

  /** Once its files and subfolders are done: the folder's node and stat-cache record. */
  async #complete(
    rel: string,
    listing: FolderListing,
    own: Array<Promise<FileResult[]>>,
    children: Array<Promise<FolderDone>>,
  ): Promise<FolderDone> {
    const [results, kids] = await Promise.all([Promise.all(own).then((r) => r.flat()), Promise.all(children)]);
    const entries: TreeEntry[] = [];
    const records: Array<[string, StatEntry]> = [];
    let size = 0;
    let files = 0;
    listing.files.forEach((f, i) => {
      const r = results[i]!;
      const name = f.path.slice(f.path.lastIndexOf('/') + 1);
      const shorthand = r.size === 0 || (r.chunks.length === 1 && r.chunks[0] === r.digest);
      // Built field by field, not by spreading: two objects per file at a million files.
      const entry: TreeEntry = { name, type: 'file', size: r.size, mode: f.mode, digest: r.digest };
      // A file that changed between walk and read keeps its digest (that is what was stored)
      // but stat values that never match, so the next run reads it again.
      const trusted = !r.changed;
      const record: StatEntry = {
        ino: trusted ? f.ino : UNTRUSTED_STAT.ino,
        mtimeMs: trusted ? f.mtimeMs : UNTRUSTED_STAT.mtimeMs,
        ctimeMs: trusted ? f.ctimeMs : UNTRUSTED_STAT.ctimeMs,
        size: r.size,
        mode: f.mode,
        digest: r.digest,
      };
      if (!shorthand) {
        entry.chunks = r.chunks;
        record.chunks = r.chunks;
      }
      entries.push(entry);
      records.push([name, record]);
      this.chunkCount += r.chunks.length;
      this.extensions.add(f.path, r.size);
      size += r.size;
      files++;
    });
    for (const l of listing.symlinks) entries.push({ name: l.name, type: 'symlink', target: l.target });
    listing.dirs.forEach((name, i) => {
      const k = kids[i]!;
      entries.push({ name, type: 'dir', tree: k.id, size: k.size, files: k.files });
      size += k.size;
      files += k.files;
      this.dirs++;
    });
    entries.sort((a, b) => compareNames(a.name, b.name));
    const node = encodeTree({ v: 1, entries });
    await this.storeNew(BlobKind.tree, [node.id], () => node.bytes);
    this.cache?.folder(
      rel,
      rel !== '',
      listing.dir ?? UNKNOWN_DIR,
      records,
      listing.symlinks.map((l) => [l.name, l.target] as const),
      listing.dirs,
    );
    return { id: node.id, size, files };
  }

  /** Appends the blobs not yet stored; `view(i)` gives the bytes of candidate i. */
  async storeNew(kind: BlobKindCode, ids: string[], view: (i: number) => Uint8Array): Promise<void> {
    const unseen = [...new Set(ids.filter((id) => !this.written.has(id)))];
    const known = unseen.length > 0 ? await this.deps.index.has(unseen) : new Set<string>();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (this.written.has(id) || known.has(id)) continue;
      this.written.add(id);
      const bytes = view(i);
      await this.roller.append(kind, id, bytes);
      this.newBytes += bytes.length;
      if (kind === BlobKind.chunk) this.newChunks++;
    }
  }

  async hashSmall(files: ScannedFile[]): Promise<FileResult[]> {
    const sizes = new Float64Array(files.length);
    let paths = '';
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      sizes[i] = f.size;
      paths += i === 0 ? f.abs : `\0${f.abs}`;
    }
    const reply = (await this.deps.pool.run(
      { type: 'small', paths, sizes },
      { transfer: [sizes.buffer as ArrayBuffer] },
    )) as SmallFileReply;
    if (reply.errors.length > 0) throw fileError(files[reply.errors[0]!.index]!, reply.errors[0]!.error);
    const data = Buffer.from(reply.data);
    const digests = Buffer.from(reply.digests);
    const meta = reply.meta;
    const ids: string[] = [];
    const views: Uint8Array[] = [];
    const out: FileResult[] = new Array(files.length);
    let bytes = 0;
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      const m = i * SMALL_FIELDS;
      const size = meta[m + SMALL_SIZE]!;
      const digest = digests.toString('hex', i * 32, i * 32 + 32);
      // Another length than the walk's: changed since, keeps the digest read, never a trusted
      // stat. (A change of the same length changed the ctime after the walk's lstat: that stat
      // never matches the file again, so no stat is taken with the read — one per file.)
      const changed = size !== f.size;
      out[i] = { digest, chunks: size > 0 ? [digest] : [], size, changed };
      if (size > 0) {
        const offset = meta[m + SMALL_OFFSET]!;
        ids.push(digest);
        views.push(data.subarray(offset, offset + size));
      }
      bytes += f.size;
    }
    await this.storeNew(BlobKind.chunk, ids, (i) => views[i]!);
    await this.roller.drainIfBusy();
    this.report(files.length, bytes);
    return out;
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
    await this.storeNew(BlobKind.chunk, ids, (k) =>
      view.subarray(ranges[k]!.offset, ranges[k]!.offset + ranges[k]!.length),
    );
    // The slot's memory may be reused only after the kernel has copied it.
    await this.roller.written();
    this.report(0, bytes);
    return ids;
  }

  async hashLarge(f: ScannedFile): Promise<FileResult> {
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
    let read = 0;
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
            for (const c of m.chunks) read += c.length;
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
    this.report(1, 0);
    return {
      digest: split ? whole.digest('hex') : done.digest,
      chunks,
      size: read,
      changed: read !== f.size || changedSince(f, done.stat),
    };
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

class Semaphore {
  #free: number;
  readonly #waiters: Array<() => void> = [];
  constructor(n: number) {
    this.#free = n;
  }
  async acquire(): Promise<void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiters.push(r));
  }
  release(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#free++;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
