import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { CairnError, ioError } from '../../core/errors.js';
import { checkRelPath } from '../../core/paths.js';
import type { BlobIndex } from '../blob-index.js';
import { checkFileCacheEntry, FILE_CACHE_MODE, fileCacheEntry, sealFileCacheEntry } from '../cache/file-cache.js';
import { hashFiles } from '../ingest/hash-files.js';
import type { LocalPackDir } from '../objects/local-packs.js';
import { checkSymlink } from '../tree/node.js';
import type { WorkerPool } from '../workers/pool.js';
import type { MaterializeFile, MaterializeSegment } from '../workers/protocol.js';
import type { Wanted } from './plan.js';

export type LinkMode = 'auto' | 'copy' | 'reflink' | 'hardlink';

export interface MaterializeOptions {
  pool: WorkerPool;
  index: BlobIndex;
  packs: LocalPackDir;
  /** Read-only files by digest that reflink/hardlink modes link from. */
  fileCacheDir: string;
  link: LinkMode;
  onProgress?: (bytes: number) => void;
}

export interface MaterializeStats {
  files: number;
  bytes: number;
  linked: number;
  method: 'copy' | 'reflink' | 'hardlink';
  /** File-cache entries found changed on disk and rebuilt instead of served. */
  poisonedCache: number;
}

const SEGMENT_BYTES = 16 * 1024 * 1024;
const TASK_BYTES = 16 * 1024 * 1024;
const TASK_FILES = 256;

/** Prefix of the temporary names files are written under, beside their final place. */
export const CHECKOUT_TEMP_PREFIX = '.cairn-tmp-';

type FileWrite = { entry: Extract<Wanted, { type: 'file' }>; replace: boolean };
type Placement = { writeTo: string; finalAbs: string; replace: boolean; size: number; fromCache: boolean };
type ToWrite = { size: number; chunks: string[]; digest: string; rel: string };
type LateCheck = { path: string; size: number; digest: string; label: string; segments: MaterializeSegment[] };

/**
 * Writes files (chunks read from packs, each file re-hashed whole), creates directories and
 * symlinks under `target`. Never follows a symlink that is already in the target: a parent
 * path that is not a real directory stops the checkout (PATH_UNSAFE).
 *
 * Every file is written under a temporary name in its own directory and checked whole (its
 * size and SHA-256 against the tree entry) before it is renamed to its final name, so no final
 * name ever holds a partial, pre-sized or wrong file, even if the process is killed. Only
 * names this call created are removed when it fails: its temporary files and the directories
 * it made (when empty). A final name that appears while the checkout runs is never replaced
 * unless the plan said to replace it.
 */
export async function materialize(
  target: string,
  writes: ReadonlyArray<{ entry: Wanted; replace: boolean }>,
  opts: MaterializeOptions,
): Promise<MaterializeStats> {
  for (const w of writes) checkRelPath(w.entry.path);
  const files = writes.filter((w): w is FileWrite => w.entry.type === 'file');
  const locs = await locateChunks(opts.index, files);
  const job = new Materialization(target, opts, locs);
  try {
    for (const w of writes) {
      const parent = w.entry.path.includes('/') ? w.entry.path.slice(0, w.entry.path.lastIndexOf('/')) : '';
      job.ensureDir(w.entry.type === 'dir' ? w.entry.path : parent);
    }
    const method = opts.link === 'auto' ? (reflinkWorks(opts.fileCacheDir, target) ? 'reflink' : 'copy') : opts.link;
    job.stats.method = method;
    const placements = await job.plan(files, method);
    await job.runTasks();
    job.placeFiles(placements, method);
    job.makeSymlinks(writes);
    return job.stats;
  } catch (err) {
    job.cleanUp();
    throw err;
  }
}

/** Where every chunk lives; refuses missing chunks and sizes that disagree with them before a byte is written. */
async function locateChunks(index: BlobIndex, files: readonly FileWrite[]) {
  const ids = [...new Set(files.flatMap((f) => f.entry.chunks))];
  const locs = await index.locate(ids);
  for (const id of ids) {
    if (!locs.has(id)) {
      throw new CairnError('MISSING_OBJECT', `chunk ${id} of this version is not in the object store`, {
        data: { blob: id },
        hint: 'run `cairn fsck`, or `cairn pull` the version',
      });
    }
  }
  // A size that disagrees with the chunks is refused up front (a pre-sized file would
  // otherwise take whatever the tree claims, and a digest check come too late).
  for (const { entry } of files) {
    const held = entry.chunks.reduce((n, id) => n + locs.get(id)!.length, 0);
    if (held !== entry.size) {
      throw new CairnError(
        'CORRUPT_OBJECT',
        `file ${entry.path}: its chunks hold ${held} bytes but the tree says ${entry.size}`,
        { data: { path: entry.path, size: entry.size, held } },
      );
    }
  }
  return locs;
}

type Locations = Awaited<ReturnType<BlobIndex['locate']>>;

/** The state of one checkout: what it created (and so may remove), and the worker tasks it scheduled. */
class Materialization {
  readonly stats: MaterializeStats = { files: 0, bytes: 0, linked: 0, method: 'copy', poisonedCache: 0 };
  readonly #madeDirs = new Set<string>(['']);
  readonly #newDirs: string[] = [];
  // Temporary files this call created (by exclusive create); the only files it may remove.
  readonly #temps = new Set<string>();
  readonly #tasks: MaterializeFile[][] = [];
  readonly #lateChecks: LateCheck[] = [];
  readonly #cacheTemp = new Map<string, string>();
  #batch: MaterializeFile[] = [];
  #batchBytes = 0;

  constructor(
    readonly target: string,
    readonly opts: MaterializeOptions,
    readonly locs: Locations,
  ) {}

  ensureDir(rel: string): void {
    if (this.#madeDirs.has(rel)) return;
    this.ensureDir(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    const abs = join(this.target, rel);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(abs);
    } catch {
      fs.mkdirSync(abs);
      this.#newDirs.push(abs);
    }
    if (st && !st.isDirectory()) {
      throw new CairnError(
        'PATH_UNSAFE',
        `refusing to write through ${abs}: it is not a directory${st.isSymbolicLink() ? ' but a symlink' : ''}`,
        { data: { path: rel } },
      );
    }
    this.#madeDirs.add(rel);
  }

  cleanUp(): void {
    for (const t of this.#temps) fs.rmSync(t, { force: true });
    this.#temps.clear();
    for (const d of this.#newDirs.reverse()) {
      try {
        fs.rmdirSync(d);
      } catch {
        // Not empty (something else lives there now) or already gone: leave it.
      }
    }
  }

  /**
   * Where each file is written first: a temporary name next to its final place, or (link
   * modes) the shared file cache, from which it is then linked or cloned.
   */
  async plan(files: readonly FileWrite[], method: MaterializeStats['method']): Promise<Placement[]> {
    const placements: Placement[] = [];
    const cacheWanted = new Map<string, ToWrite & { mode: number }>();
    const cacheChecked = new Set<string>();
    const hash = async (path: string) =>
      (await hashFiles(this.opts.pool, [{ abs: path, size: fs.statSync(path).size }]))[0]!.digest;
    for (const { entry, replace } of files) {
      const finalAbs = join(this.target, entry.path);
      const toWrite = { size: entry.size, chunks: entry.chunks, digest: entry.digest, rel: entry.path };
      if (method === 'copy') {
        const writeTo = tempBeside(finalAbs);
        placements.push({ writeTo, finalAbs, replace, size: entry.size, fromCache: false });
        this.#schedule(writeTo, toWrite, entry.mode === '755' ? 0o755 : 0o644);
        continue;
      }
      const exec = entry.mode === '755';
      const cachePath = fileCacheEntry(this.opts.fileCacheDir, entry.digest, exec);
      const mode = exec ? FILE_CACHE_MODE.executable : FILE_CACHE_MODE.plain;
      if (!cacheChecked.has(cachePath)) {
        cacheChecked.add(cachePath);
        const state = await checkFileCacheEntry(cachePath, { digest: entry.digest, size: entry.size, mode }, hash);
        if (state === 'poisoned') this.stats.poisonedCache++;
        if (state !== 'ok') cacheWanted.set(cachePath, { ...toWrite, mode });
      }
      placements.push({ writeTo: cachePath, finalAbs, replace, size: entry.size, fromCache: true });
    }
    for (const [path, c] of cacheWanted) {
      fs.mkdirSync(dirname(path), { recursive: true });
      // Written under a temp name and renamed, so a crash never leaves a partial cache file.
      const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
      this.#cacheTemp.set(path, tmp);
      this.#schedule(tmp, c, c.mode);
    }
    if (this.#batch.length) this.#tasks.push(this.#batch);
    return placements;
  }

  /**
   * Worker tasks: big files split in segments across workers (then checked whole by one more
   * task), small ones batched and checked as they are written.
   */
  #schedule(writeTo: string, f: ToWrite, mode: number): void {
    const segs = this.#segmentsOf(f.chunks);
    if (f.size <= SEGMENT_BYTES) {
      this.#temps.add(writeTo);
      const verify = { digest: f.digest, size: f.size, label: f.rel };
      this.#pushTask({ target: writeTo, create: mode, segments: segs, verify }, f.size);
      return;
    }
    // Pre-sized so several workers can write disjoint ranges at once; it keeps its
    // temporary name until the whole file has been read back and checked.
    const fd = fs.openSync(writeTo, 'wx', mode);
    this.#temps.add(writeTo);
    try {
      fs.ftruncateSync(fd, f.size);
    } finally {
      fs.closeSync(fd);
    }
    let cur: MaterializeSegment[] = [];
    let curBytes = 0;
    for (const s of segs) {
      cur.push(s);
      curBytes += s.length;
      if (curBytes >= SEGMENT_BYTES) {
        this.#tasks.push([{ target: writeTo, segments: cur }]);
        cur = [];
        curBytes = 0;
      }
    }
    if (cur.length) this.#tasks.push([{ target: writeTo, segments: cur }]);
    this.#lateChecks.push({ path: writeTo, size: f.size, digest: f.digest, label: f.rel, segments: segs });
  }

  #pushTask(f: MaterializeFile, bytes: number): void {
    if (this.#batch.length >= TASK_FILES || (this.#batch.length > 0 && this.#batchBytes + bytes > TASK_BYTES)) {
      this.#tasks.push(this.#batch);
      this.#batch = [];
      this.#batchBytes = 0;
    }
    this.#batch.push(f);
    this.#batchBytes += bytes;
  }

  #segmentsOf(chunks: string[]): MaterializeSegment[] {
    let off = 0;
    return chunks.map((id) => {
      const l = this.locs.get(id)!;
      const s = {
        packPath: this.opts.packs.packPath(l.packId),
        packOffset: l.offset,
        length: l.length,
        id,
        fileOffset: off,
      };
      off += l.length;
      return s;
    });
  }

  /** Runs every task; all must have stopped before a cleanup (a running worker would recreate a removed file). */
  async runTasks(): Promise<void> {
    const run = async (t: MaterializeFile[]) => {
      await this.opts.pool.run({ type: 'materialize', files: t });
      this.opts.onProgress?.(t.reduce((n, f) => n + f.segments.reduce((m, s) => m + s.length, 0), 0));
    };
    const settled = await Promise.allSettled(this.#tasks.map(run));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const checked = await Promise.allSettled(
      this.#lateChecks.map((v) => this.opts.pool.run({ type: 'verify-file', ...v })),
    );
    const bad = checked.find((r) => r.status === 'rejected');
    if (bad) throw (bad as PromiseRejectedResult).reason;
    for (const [path, tmp] of this.#cacheTemp) {
      fs.renameSync(tmp, path);
      this.#temps.delete(tmp);
      sealFileCacheEntry(path);
    }
  }

  /** Moves each checked file to its final name (linked or cloned from the cache in link modes). */
  placeFiles(placements: readonly Placement[], method: MaterializeStats['method']): void {
    for (const p of placements) {
      let tmp = p.writeTo;
      if (p.fromCache) {
        tmp = tempBeside(p.finalAbs);
        try {
          if (method === 'hardlink') fs.linkSync(p.writeTo, tmp);
          else fs.copyFileSync(p.writeTo, tmp, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
          this.#temps.add(tmp);
          if (method === 'reflink') fs.chmodSync(tmp, (fs.statSync(p.writeTo).mode & 0o111) !== 0 ? 0o755 : 0o644);
        } catch (err) {
          throw ioError(err, method === 'hardlink' ? 'hardlink into' : 'copy into', p.finalAbs);
        }
        this.stats.linked++;
      }
      place(tmp, p.finalAbs, p.replace);
      this.#temps.delete(tmp);
      this.stats.files++;
      this.stats.bytes += p.size;
    }
  }

  makeSymlinks(writes: ReadonlyArray<{ entry: Wanted; replace: boolean }>): void {
    for (const { entry, replace } of writes) {
      if (entry.type !== 'symlink') continue;
      checkSymlink(entry.path, entry.target);
      const abs = join(this.target, entry.path);
      if (replace) {
        clearEmptyDirectory(abs);
        fs.rmSync(abs, { force: true });
      }
      fs.symlinkSync(entry.target, abs);
    }
  }
}

function tempBeside(finalAbs: string): string {
  return join(dirname(finalAbs), `${CHECKOUT_TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Moves a finished temporary file to its final name. When the plan found nothing there, the
 * name is taken with link(2), which fails rather than replace a file that appeared meanwhile;
 * filesystems without hard links fall back to a check and a rename.
 */
function place(tmp: string, finalAbs: string, replace: boolean): void {
  if (replace) {
    clearEmptyDirectory(finalAbs);
    fs.renameSync(tmp, finalAbs);
    return;
  }
  try {
    fs.linkSync(tmp, finalAbs);
    fs.rmSync(tmp, { force: true });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw appeared(finalAbs);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK' && code !== 'EXDEV')
      throw ioError(err, 'write', finalAbs);
  }
  if (fs.existsSync(finalAbs) || isSymlink(finalAbs)) throw appeared(finalAbs);
  fs.renameSync(tmp, finalAbs);
}

function appeared(abs: string): CairnError {
  return new CairnError('LOCAL_CHANGES', `${abs} appeared while the checkout ran; it was left alone`, {
    data: { path: abs },
    hint: 'move it away and check out again',
  });
}

function isSymlink(abs: string): boolean {
  try {
    return fs.lstatSync(abs).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * A file replacing a directory: the plan has already removed every file in it (they were
 * ours and unchanged, or --force), so only empty directories can remain. Anything else found
 * there is left alone and stops the checkout.
 */
function clearEmptyDirectory(abs: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch {
    return;
  }
  if (!st.isDirectory()) return;
  for (const name of fs.readdirSync(abs)) clearEmptyDirectory(join(abs, name));
  try {
    fs.rmdirSync(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CairnError('LOCAL_CHANGES', `${abs} holds files the checkout did not expect; it was left alone`, {
        data: { path: abs },
        hint: 'move them away and check out again',
      });
    }
    throw ioError(err, 'remove', abs);
  }
}

let reflinkProbe: Map<string, boolean> | null = null;

/** One tiny FICLONE attempt per (cache, target) pair: ext4 says no, btrfs/XFS say yes. */
function reflinkWorks(cacheDir: string, target: string): boolean {
  reflinkProbe ??= new Map();
  const key = `${cacheDir}\0${target}`;
  const known = reflinkProbe.get(key);
  if (known !== undefined) return known;
  let ok = false;
  const src = join(cacheDir, `.probe-${randomBytes(4).toString('hex')}`);
  const dst = join(target, `.cairn-probe-${randomBytes(4).toString('hex')}`);
  try {
    fs.mkdirSync(cacheDir, { recursive: true });
    fs.writeFileSync(src, 'x');
    fs.copyFileSync(src, dst, fs.constants.COPYFILE_FICLONE_FORCE);
    ok = true;
  } catch {
    ok = false;
  } finally {
    fs.rmSync(src, { force: true });
    fs.rmSync(dst, { force: true });
  }
  reflinkProbe.set(key, ok);
  return ok;
}
