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
  const stats: MaterializeStats = { files: 0, bytes: 0, linked: 0, method: 'copy', poisonedCache: 0 };
  const madeDirs = new Set<string>(['']);
  const newDirs: string[] = [];
  const ensureDir = (rel: string) => {
    if (madeDirs.has(rel)) return;
    ensureDir(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    const abs = join(target, rel);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(abs);
    } catch {
      fs.mkdirSync(abs);
      newDirs.push(abs);
    }
    if (st && !st.isDirectory()) {
      throw new CairnError(
        'PATH_UNSAFE',
        `refusing to write through ${abs}: it is not a directory${st.isSymbolicLink() ? ' but a symlink' : ''}`,
        { data: { path: rel } },
      );
    }
    madeDirs.add(rel);
  };
  // Temporary files this call created (by exclusive create); the only files it may remove.
  const temps = new Set<string>();
  const cleanUp = () => {
    for (const t of temps) fs.rmSync(t, { force: true });
    temps.clear();
    for (const d of newDirs.reverse()) {
      try {
        fs.rmdirSync(d);
      } catch {
        // Not empty (something else lives there now) or already gone: leave it.
      }
    }
  };

  const files = writes.filter((w) => w.entry.type === 'file') as Array<{
    entry: Extract<Wanted, { type: 'file' }>;
    replace: boolean;
  }>;
  for (const w of writes) checkRelPath(w.entry.path);

  const ids = [...new Set(files.flatMap((f) => f.entry.chunks))];
  const locs = await opts.index.locate(ids);
  for (const id of ids) {
    if (!locs.has(id)) {
      throw new CairnError('MISSING_OBJECT', `chunk ${id} of this version is not in the object store`, {
        data: { blob: id },
        hint: 'run `cairn fsck`, or `cairn pull` the version',
      });
    }
  }
  // A size that disagrees with the chunks is refused before a byte is written (a pre-sized
  // file would otherwise take whatever the tree claims, and a digest check come too late).
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
  const segmentsOf = (chunks: string[]): MaterializeSegment[] => {
    let off = 0;
    return chunks.map((id) => {
      const l = locs.get(id)!;
      const s = {
        packPath: opts.packs.packPath(l.packId),
        packOffset: l.offset,
        length: l.length,
        id,
        fileOffset: off,
      };
      off += l.length;
      return s;
    });
  };

  try {
    for (const w of writes) {
      const parent = w.entry.path.includes('/') ? w.entry.path.slice(0, w.entry.path.lastIndexOf('/')) : '';
      ensureDir(w.entry.type === 'dir' ? w.entry.path : parent);
    }
    const method = opts.link === 'auto' ? (reflinkWorks(opts.fileCacheDir, target) ? 'reflink' : 'copy') : opts.link;
    stats.method = method;
    const tempBeside = (finalAbs: string) =>
      join(dirname(finalAbs), `${CHECKOUT_TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    // Where each file is written first: a temporary name next to its final place, or (link
    // modes) the shared file cache, from which it is then linked or cloned.
    const placements: Array<{ writeTo: string; finalAbs: string; replace: boolean; size: number; fromCache: boolean }> =
      [];
    const cacheWanted = new Map<
      string,
      { size: number; chunks: string[]; mode: number; digest: string; rel: string }
    >();
    const cacheChecked = new Set<string>();
    const hash = async (path: string) =>
      (await hashFiles(opts.pool, [{ abs: path, size: fs.statSync(path).size }]))[0]!.digest;

    // Worker tasks: big files split in segments across workers (then checked whole by one
    // more task), small ones batched and checked as they are written.
    const tasks: MaterializeFile[][] = [];
    const lateChecks: Array<{
      path: string;
      size: number;
      digest: string;
      label: string;
      segments: MaterializeSegment[];
    }> = [];
    let batch: MaterializeFile[] = [];
    let batchBytes = 0;
    const pushTask = (f: MaterializeFile, bytes: number) => {
      if (batch.length >= TASK_FILES || (batch.length > 0 && batchBytes + bytes > TASK_BYTES)) {
        tasks.push(batch);
        batch = [];
        batchBytes = 0;
      }
      batch.push(f);
      batchBytes += bytes;
    };
    const schedule = (
      writeTo: string,
      f: { size: number; chunks: string[]; digest: string; rel: string },
      mode: number,
    ) => {
      const segs = segmentsOf(f.chunks);
      if (f.size <= SEGMENT_BYTES) {
        temps.add(writeTo);
        pushTask(
          { target: writeTo, create: mode, segments: segs, verify: { digest: f.digest, size: f.size, label: f.rel } },
          f.size,
        );
        return;
      }
      // Pre-sized so several workers can write disjoint ranges at once; it keeps its
      // temporary name until the whole file has been read back and checked.
      const fd = fs.openSync(writeTo, 'wx', mode);
      temps.add(writeTo);
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
          tasks.push([{ target: writeTo, segments: cur }]);
          cur = [];
          curBytes = 0;
        }
      }
      if (cur.length) tasks.push([{ target: writeTo, segments: cur }]);
      lateChecks.push({ path: writeTo, size: f.size, digest: f.digest, label: f.rel, segments: segs });
    };
    for (const { entry, replace } of files) {
      const finalAbs = join(target, entry.path);
      if (method === 'copy') {
        const writeTo = tempBeside(finalAbs);
        placements.push({ writeTo, finalAbs, replace, size: entry.size, fromCache: false });
        schedule(
          writeTo,
          { size: entry.size, chunks: entry.chunks, digest: entry.digest, rel: entry.path },
          entry.mode === '755' ? 0o755 : 0o644,
        );
        continue;
      }
      const exec = entry.mode === '755';
      const cachePath = fileCacheEntry(opts.fileCacheDir, entry.digest, exec);
      const mode = exec ? FILE_CACHE_MODE.executable : FILE_CACHE_MODE.plain;
      if (!cacheChecked.has(cachePath)) {
        cacheChecked.add(cachePath);
        const state = await checkFileCacheEntry(cachePath, { digest: entry.digest, size: entry.size, mode }, hash);
        if (state === 'poisoned') stats.poisonedCache++;
        if (state !== 'ok')
          cacheWanted.set(cachePath, {
            size: entry.size,
            chunks: entry.chunks,
            mode,
            digest: entry.digest,
            rel: entry.path,
          });
      }
      placements.push({ writeTo: cachePath, finalAbs, replace, size: entry.size, fromCache: true });
    }
    const cacheTemp = new Map<string, string>();
    if (method !== 'copy') {
      for (const [path, c] of cacheWanted) {
        fs.mkdirSync(dirname(path), { recursive: true });
        // Written under a temp name and renamed, so a crash never leaves a partial cache file.
        const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
        cacheTemp.set(path, tmp);
        schedule(tmp, c, c.mode);
      }
    }
    if (batch.length) tasks.push(batch);

    // Every task must have stopped before cleaning up: a worker still writing would otherwise
    // recreate a file after it was removed.
    const run = async (t: MaterializeFile[]) => {
      await opts.pool.run({ type: 'materialize', files: t });
      opts.onProgress?.(t.reduce((n, f) => n + f.segments.reduce((m, s) => m + s.length, 0), 0));
    };
    const settled = await Promise.allSettled(tasks.map(run));
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const checked = await Promise.allSettled(lateChecks.map((v) => opts.pool.run({ type: 'verify-file', ...v })));
    const bad = checked.find((r) => r.status === 'rejected');
    if (bad) throw (bad as PromiseRejectedResult).reason;

    for (const [path, tmp] of cacheTemp) {
      fs.renameSync(tmp, path);
      temps.delete(tmp);
      sealFileCacheEntry(path);
    }
    for (const p of placements) {
      let tmp = p.writeTo;
      if (p.fromCache) {
        tmp = tempBeside(p.finalAbs);
        try {
          if (method === 'hardlink') fs.linkSync(p.writeTo, tmp);
          else fs.copyFileSync(p.writeTo, tmp, fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL);
          temps.add(tmp);
          if (method === 'reflink') fs.chmodSync(tmp, (fs.statSync(p.writeTo).mode & 0o111) !== 0 ? 0o755 : 0o644);
        } catch (err) {
          throw ioError(err, method === 'hardlink' ? 'hardlink into' : 'copy into', p.finalAbs);
        }
        stats.linked++;
      }
      place(tmp, p.finalAbs, p.replace);
      temps.delete(tmp);
      stats.files++;
      stats.bytes += p.size;
    }
    for (const { entry, replace } of writes) {
      if (entry.type !== 'symlink') continue;
      checkSymlink(entry.path, entry.target);
      const abs = join(target, entry.path);
      if (replace) {
        clearEmptyDirectory(abs);
        fs.rmSync(abs, { force: true });
      }
      fs.symlinkSync(entry.target, abs);
    }
    return stats;
  } catch (err) {
    cleanUp();
    throw err;
  }
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
