import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { CairnError, ioError } from '../../core/errors.js';
import { checkRelPath } from '../../core/paths.js';
import type { BlobIndex } from '../blob-index.js';
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
}

const SEGMENT_BYTES = 16 * 1024 * 1024;
const TASK_BYTES = 16 * 1024 * 1024;
const TASK_FILES = 256;

/**
 * Writes files (chunks read from packs, each re-hashed on the way), creates directories and
 * symlinks under `target`. Never follows a symlink that is already in the target: a parent
 * path that is not a real directory stops the checkout (PATH_UNSAFE).
 */
export async function materialize(target: string, writes: ReadonlyArray<{ entry: Wanted; replace: boolean }>, opts: MaterializeOptions): Promise<MaterializeStats> {
  const stats: MaterializeStats = { files: 0, bytes: 0, linked: 0, method: 'copy' };
  const madeDirs = new Set<string>([target]);
  const ensureDir = (rel: string) => {
    if (rel === '' || madeDirs.has(rel)) return;
    ensureDir(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    const abs = join(target, rel);
    let st: fs.Stats | null = null;
    try {
      st = fs.lstatSync(abs);
    } catch {
      fs.mkdirSync(abs);
    }
    if (st && !st.isDirectory()) {
      throw new CairnError('PATH_UNSAFE', `refusing to write through ${abs}: it is not a directory${st.isSymbolicLink() ? ' but a symlink' : ''}`, { data: { path: rel } });
    }
    madeDirs.add(rel);
  };

  const files = writes.filter((w) => w.entry.type === 'file') as Array<{ entry: Extract<Wanted, { type: 'file' }>; replace: boolean }>;
  for (const w of writes) {
    checkRelPath(w.entry.path);
    const parent = w.entry.path.includes('/') ? w.entry.path.slice(0, w.entry.path.lastIndexOf('/')) : '';
    ensureDir(w.entry.type === 'dir' ? w.entry.path : parent);

  }

  const ids = [...new Set(files.flatMap((f) => f.entry.chunks))];
  const locs = await opts.index.locate(ids);
  for (const id of ids) {
    if (!locs.has(id)) {
      throw new CairnError('MISSING_OBJECT', `chunk ${id} of this version is not in the object store`, { data: { blob: id }, hint: 'run `cairn fsck`, or `cairn pull` the version' });
    }
  }
  const segmentsOf = (chunks: string[]): MaterializeSegment[] => {
    let off = 0;
    return chunks.map((id) => {
      const l = locs.get(id)!;
      const s = { packPath: opts.packs.packPath(l.packId), packOffset: l.offset, length: l.length, id, fileOffset: off };
      off += l.length;
      return s;
    });
  };

  const method = opts.link === 'auto' ? (reflinkWorks(opts.fileCacheDir, target) ? 'reflink' : 'copy') : opts.link;
  stats.method = method;
  // Where each file is written first: straight to its place, or a temp name next to it when
  // something must be replaced (renamed over it at the end), or the shared file cache.
  const placements: Array<{ rel: string; writeTo: string; finalAbs: string; mode: number; size: number; chunks: string[]; fromCache: boolean }> = [];
  const cacheWanted = new Map<string, { size: number; chunks: string[]; mode: number }>();
  for (const { entry, replace } of files) {
    const finalAbs = join(target, entry.path);
    const mode = entry.mode === '755' ? 0o755 : 0o644;
    if (method === 'copy') {
      const writeTo = replace ? join(dirname(finalAbs), `.cairn-tmp-${randomBytes(6).toString('hex')}`) : finalAbs;
      placements.push({ rel: entry.path, writeTo, finalAbs, mode, size: entry.size, chunks: entry.chunks, fromCache: false });
    } else {
      const key = `${entry.digest}${entry.mode === '755' ? '.x' : ''}`;
      const cachePath = join(opts.fileCacheDir, key.slice(0, 2), key);
      if (!fs.existsSync(cachePath)) cacheWanted.set(cachePath, { size: entry.size, chunks: entry.chunks, mode: entry.mode === '755' ? 0o555 : 0o444 });
      placements.push({ rel: entry.path, writeTo: cachePath, finalAbs, mode, size: entry.size, chunks: entry.chunks, fromCache: true });
    }
  }

  // Build worker tasks: big files split in segments across workers, small ones batched.
  const tasks: MaterializeFile[][] = [];
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
  const created: string[] = [];
  const cacheTemp = new Map<string, string>();
  const schedule = (writeTo: string, size: number, chunks: string[], mode: number) => {
    const segs = segmentsOf(chunks);
    if (size <= SEGMENT_BYTES) {
      pushTask({ target: writeTo, create: mode, segments: segs }, size);
      created.push(writeTo);
      return;
    }
    // Pre-size the file so several workers can write disjoint ranges at once.
    const fd = fs.openSync(writeTo, 'wx', mode);
    created.push(writeTo);
    fs.ftruncateSync(fd, size);
    fs.closeSync(fd);
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
  };
  if (method === 'copy') {
    for (const p of placements) schedule(p.writeTo, p.size, p.chunks, p.mode);
  } else {
    for (const [path, c] of cacheWanted) {
      fs.mkdirSync(dirname(path), { recursive: true });
      // Written under a temp name and renamed, so a crash never leaves a partial cache file.
      const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
      cacheTemp.set(path, tmp);
      schedule(tmp, c.size, c.chunks, c.mode);
    }
  }
  if (batch.length) tasks.push(batch);

  // Every task must have stopped before cleaning up: a worker still writing would otherwise
  // leave a truncated file behind under its final name.
  const settled = await Promise.allSettled(
    tasks.map(async (t) => {
      await opts.pool.run({ type: 'materialize', files: t });
      opts.onProgress?.(t.reduce((n, f) => n + f.segments.reduce((m, s) => m + s.length, 0), 0));
    }),
  );
  const failed = settled.find((r) => r.status === 'rejected');
  if (failed) {
    for (const c of created) fs.rmSync(c, { force: true });
    throw (failed as PromiseRejectedResult).reason;
  }

  for (const [path, tmp] of cacheTemp) fs.renameSync(tmp, path);
  for (const p of placements) {
    if (p.fromCache) {
      const tmp = join(dirname(p.finalAbs), `.cairn-tmp-${randomBytes(6).toString('hex')}`);
      try {
        if (method === 'hardlink') fs.linkSync(p.writeTo, tmp);
        else fs.copyFileSync(p.writeTo, tmp, fs.constants.COPYFILE_FICLONE);
        if (method === 'reflink') fs.chmodSync(tmp, p.mode);
        clearDirectory(p.finalAbs);
        fs.renameSync(tmp, p.finalAbs);
      } catch (err) {
        fs.rmSync(tmp, { force: true });
        throw ioError(err, method === 'hardlink' ? 'hardlink into' : 'copy into', p.finalAbs);
      }
      stats.linked++;
    } else if (p.writeTo !== p.finalAbs) {
      clearDirectory(p.finalAbs);
      fs.renameSync(p.writeTo, p.finalAbs);
    }
    stats.files++;
    stats.bytes += p.size;
  }
  for (const { entry, replace } of writes) {
    if (entry.type !== 'symlink') continue;
    checkSymlink(entry.path, entry.target);
    const abs = join(target, entry.path);
    if (replace) {
      clearDirectory(abs);
      fs.rmSync(abs, { force: true });
    }
    fs.symlinkSync(entry.target, abs);
  }
  return stats;
}

/**
 * A file replacing a directory: the plan has already removed every file in it (they were
 * ours and unchanged, or --force), so only empty directories can remain.
 */
function clearDirectory(abs: string): void {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(abs);
  } catch {
    return;
  }
  if (st.isDirectory()) fs.rmSync(abs, { recursive: true, force: true });
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
