import * as fs from 'node:fs';
import { CairnError } from '../../core/errors.js';
import { hashFiles } from '../ingest/hash-files.js';
import { writeFileAtomicSync } from '../objects/durable.js';
import type { WorkerPool } from '../workers/pool.js';
import {
  contentAt,
  entriesOf,
  indexRecords,
  KIND_DIR,
  KIND_FILE,
  MAGIC,
  TRAILER_BYTES,
  MAGIC_V3,
  patchDirStat,
  patchStat,
  readHeader,
  statAt,
  StatCacheFormatError,
  UNKNOWN_DIR,
  type CacheHeader,
  type RecordRef,
} from './binary.js';
import type { CacheFile, FolderFindings, FolderMiss, FoldersChecked, StatChildTask } from './check-folders.js';
import type { StatBatch } from './native.js';
import { checkFoldersNative } from './native-folders.js';
import { statCachePath, UNTRUSTED_STAT } from './stat-cache.js';
import type { StatChildren } from './stat-children.js';

/** A format-3 or -4 cache read into shared memory, ready to be compared directory by directory. */
export interface FolderCache {
  path: string;
  /** The file as opened (inode, size, times): a worker reading its share checks it is the same file. */
  file: CacheFile;
  bytes: Buffer;
  shared: SharedArrayBuffer;
  header: CacheHeader;
  format: 3 | 4;
  recordsAt: number;
  records: RecordRef[];
}

/**
 * The cache of `root` when it is a binary cache of exactly `version` (a complete baseline of
 * it), else null: the caller then falls back to the full walk. Only the record index is
 * checked here; the entries are checked by the workers as they compare them (a damaged record
 * makes `statusByFolders` answer null, and the caller falls back the same way), so the serial
 * part of `status` does not read every entry twice. Only the header, the trailer and each
 * record's first bytes are read here: the workers read the records they compare, in parallel,
 * into the same shared buffer (`fillShare`).
 */
export function openFolderCache(cacheDir: string, root: string, version: string): FolderCache | null {
  const path = statCachePath(cacheDir, root);
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const { size, ino, mtimeMs, ctimeMs } = fs.fstatSync(fd);
    if (size < MAGIC.length + 4) return null;
    const shared = new SharedArrayBuffer(size);
    const bytes = Buffer.from(shared);
    const read = (at: number, n: number) => {
      const end = Math.min(size, at + n);
      while (at < end) {
        const got = fs.readSync(fd, bytes, at, end - at, at);
        if (got === 0) break;
        at += got;
      }
    };
    read(0, MAGIC.length + 4);
    read(MAGIC.length + 4, bytes.readUInt32LE(MAGIC.length));
    const { header, recordsAt, format } = readHeader(bytes);
    if (header.root !== root || header.version !== version) return null;
    // What indexRecords reads: the trailer, and each record's length, flag and path.
    read(size - TRAILER_BYTES, TRAILER_BYTES);
    for (let at = recordsAt; at + 9 <= size - TRAILER_BYTES; at += 4 + bytes.readUInt32LE(at)) {
      read(at, 64);
      const pathLen = bytes.readUInt32LE(at + 5);
      if (pathLen > 55) read(at + 64, pathLen - 55);
    }
    const records = indexRecords(bytes, recordsAt, format);
    if (!records.some((r) => r.path === '')) return null;
    return { path, file: { path, ino, size, mtimeMs, ctimeMs }, bytes, shared, header, format, recordsAt, records };
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

export interface FolderStatus {
  added: string[];
  removed: string[];
  modified: string[];
  unchanged: number;
  hashed: number;
  /** Files, symlinks and the set of directories all equal the version's. */
  identical: boolean;
  /** Directories listed (the rest were vouched for by their own unchanged stat). */
  listed: number;
  /**
   * Who compared: the native stat batch, the stat children, or the storage workers (neither,
   * or the children failed).
   */
  via: 'native' | 'children' | 'workers';
  /** Writes the cache back with the stat values learnt by hashing (call when `hashed` > 0). */
  save(): void;
}

/** Directories per worker task: a few tasks per worker keep them all busy to the end. */
function batches(records: readonly RecordRef[], workers: number): RecordRef[][] {
  const total = records.reduce((n, r) => n + (r.end - r.offset), 0);
  const target = Math.max(1, Math.ceil(total / (workers * 4)));
  const out: RecordRef[][] = [];
  let cur: RecordRef[] = [];
  let bytes = 0;
  for (const r of records) {
    cur.push(r);
    bytes += r.end - r.offset;
    if (bytes >= target) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function voidBy(gone: ReadonlySet<string>, path: string): boolean {
  if (gone.size === 0) return false;
  for (let p = path; ; p = p.slice(0, p.lastIndexOf('/'))) {
    if (gone.has(p)) return true;
    if (!p.includes('/')) return p !== '' && gone.has('');
  }
}

/** The workers' findings in one list each; records below a replaced directory count as removed. */
function gather(cache: FolderCache, groups: RecordRef[][], replies: FoldersChecked[]) {
  const gone = new Set(replies.flatMap((r) => r.gone));
  // A directory entry without its own record would leave that directory unchecked: such a
  // cache is not used (the caller falls back to the full walk).
  const paths = new Set(cache.records.map((r) => r.path));
  const dirs: Array<{ rec: RecordRef; dir: FolderFindings['dir'] }> = [];
  let listed = 0;
  const added: string[] = [];
  const removed: string[] = [];
  const modified: string[] = [];
  const misses: FolderMiss[] = [];
  const untrust: number[] = [];
  let unchanged = 0;
  let dirsChanged = gone.size > 0;
  groups.forEach((records, g) => {
    records.forEach((rec, i) => {
      const f: FolderFindings = replies[g]!.folders[i]!;
      const prefix = rec.path === '' ? '' : `${rec.path}/`;
      for (const d of f.subdirs)
        if (!paths.has(prefix + d)) throw new StatCacheFormatError('directory without a record');
      if (f.listed) listed++;
      if (voidBy(gone, rec.path)) {
        dirs.push({ rec, dir: null });
        for (const e of entriesOf(cache.bytes, rec)) {
          if (e.kind !== KIND_DIR) removed.push(prefix + e.name);
          if (e.kind === KIND_FILE) untrust.push(e.at);
        }
        return;
      }
      dirs.push({ rec, dir: f.dir });
      for (const at of f.untrust) untrust.push(at);
      unchanged += f.unchanged;
      dirsChanged ||= f.dirsChanged;
      for (const p of f.added) added.push(p);
      for (const p of f.removed) removed.push(p);
      for (const p of f.modified) modified.push(p);
      for (const m of f.misses) misses.push(m);
    });
  });
  return { added, removed, modified, misses, untrust, unchanged, dirsChanged, dirs, listed };
}

/**
 * Reads every record into `cache.bytes` (the stat children read their shares into their own
 * memory): what the comparison needs only when something changed. Checked to be the file the
 * index was read from, as the workers check it; false when it is not (the caller falls back).
 */
function readRecords(cache: FolderCache): boolean {
  let fd: number;
  try {
    fd = fs.openSync(cache.path, 'r');
  } catch {
    return false;
  }
  try {
    const st = fs.fstatSync(fd);
    const f = cache.file;
    if (st.ino !== f.ino || st.size !== f.size || st.mtimeMs !== f.mtimeMs || st.ctimeMs !== f.ctimeMs) return false;
    for (let at = cache.recordsAt; at < f.size;) {
      const n = fs.readSync(fd, cache.bytes, at, f.size - at, at);
      if (n === 0) return false;
      at += n;
    }
    return true;
  } catch {
    return false;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Only the workers share the buffer: after the stat children or the native batch, the records
 * are read here when the findings need them (a miss to hash, a replaced folder). False when
 * they cannot be (the caller falls back).
 */
function ownRead(cache: FolderCache, replies: readonly FoldersChecked[]): boolean {
  const needed = replies.some((r) => r.gone.length > 0 || r.folders.some((f) => f.misses.length > 0));
  return !needed || replies.some((r) => r.invalid || r.damaged) || readRecords(cache);
}

/**
 * The findings of each group of records: from the stat children, else (none, or one failed)
 * from the workers. Null when the records cannot be read back for the findings (the caller
 * falls back).
 */
async function compare(
  pool: WorkerPool,
  root: string,
  cache: FolderCache,
  groups: RecordRef[][],
  children?: StatChildren | null,
  native?: StatBatch | null,
): Promise<{ replies: FoldersChecked[]; via: FolderStatus['via'] } | null> {
  if (native) {
    const reply = await checkFoldersNative(native, cache.file, groups.flat(), root, cache.header.scannedAtMs);
    return ownRead(cache, [reply]) ? { replies: [reply], via: 'native' } : null;
  }
  const task = (records: RecordRef[]): StatChildTask => ({
    length: cache.bytes.length,
    file: cache.file,
    records,
    root,
    scannedAtMs: cache.header.scannedAtMs,
  });
  const replies = children ? await children.run(groups.map(task)) : null;
  // Their work is done: let them exit while the findings are gathered (the caller awaits it).
  void children?.close();
  if (replies) return ownRead(cache, replies) ? { replies, via: 'children' } : null;
  pool.warm();
  const viaWorkers = await Promise.all(
    groups.map(
      async (records) =>
        (
          (await pool.run({ type: 'check-folders', cache: cache.shared, ...task(records) })) as {
            result: FoldersChecked;
          }
        ).result,
    ),
  );
  return { replies: viaWorkers, via: 'workers' };
}

/**
 * `status` against a binary cache of the version: the native stat batch (else the stat
 * children, else the workers) compares
 * the directories with their records (one lstat per entry, spread over the cores; a directory
 * is listed only when its own stat changed); only files whose stat values changed are hashed.
 * Never trusts a record below a directory that was replaced. Null when the cache turns out
 * damaged (a malformed record, a directory without a record): the caller falls back to the
 * full walk.
 */
export async function statusByFolders(
  pool: WorkerPool,
  root: string,
  cache: FolderCache,
  onProgress?: (bytes: number, total: number) => void,
  children?: StatChildren | null,
  native?: StatBatch | null,
): Promise<FolderStatus | null> {
  const startedAtMs = Date.now();
  // The native batch compares every folder in this process: one group.
  const groups = native ? [cache.records] : batches(cache.records, children ? children.size : pool.size);
  const compared = await compare(pool, root, cache, groups, children, native);
  if (!compared) return null;
  const { replies, via } = compared;
  for (const r of replies) {
    if (r.invalid)
      throw new CairnError(r.invalid.code, r.invalid.message, { data: r.invalid.data, hint: r.invalid.hint });
  }
  if (replies.some((r) => r.damaged !== undefined)) return null;
  let found: ReturnType<typeof gather>;
  try {
    found = gather(cache, groups, replies);
  } catch (err) {
    if (err instanceof StatCacheFormatError) return null;
    throw err;
  }
  const { added, removed, modified, misses, untrust, dirsChanged, dirs, listed, ...counts } = found;
  let unchanged = counts.unchanged;
  const hashed = await hashFiles(
    pool,
    misses.map((m) => ({ abs: `${root}/${m.path}`, size: m.size })),
    undefined,
    onProgress,
  );
  misses.forEach((m, i) => {
    const h = hashed[i]!;
    const was = statAt(cache.bytes, m.at);
    const same = h.digest === contentAt(cache.bytes, m.at).digest && m.exec === was.exec;
    const steady =
      h.stat.size === m.size && h.stat.mtimeMs === m.mtimeMs && h.stat.ctimeMs === m.ctimeMs && h.stat.ino === m.ino;
    // Fresh stat values only for a file read whole and unchanged while read; any other entry
    // never matches again, so the next status reads the file again rather than trust it.
    patchStat(cache.bytes, m.at, same && steady ? m : { ...UNTRUSTED_STAT, size: was.size });
    if (same) unchanged++;
    else modified.push(m.path);
  });
  return {
    added: added.sort(),
    removed: removed.sort(),
    modified: modified.sort(),
    unchanged,
    hashed: misses.length,
    identical: added.length + removed.length + modified.length === 0 && !dirsChanged,
    listed,
    via,
    save: () => {
      for (const at of untrust) patchStat(cache.bytes, at, { ...UNTRUSTED_STAT, size: statAt(cache.bytes, at).size });
      // A directory keeps a stat only when its listing (or its settled, unchanged stat) showed
      // the record's names and kinds; any other is unknown and is listed next time.
      for (const { rec, dir } of dirs) patchDirStat(cache.bytes, rec, dir ?? UNKNOWN_DIR);
      // Under the new scan time every entry is one of: trusted now under the older time (so
      // not racy under the newer), stat'ed after `startedAtMs` and read unchanged, or untrusted.
      const text = Buffer.from(JSON.stringify({ ...cache.header, scannedAtMs: startedAtMs }), 'utf8');
      const head = Buffer.alloc(MAGIC.length + 4);
      (cache.format === 4 ? MAGIC : MAGIC_V3).copy(head, 0);
      head.writeUInt32LE(text.length, MAGIC.length);
      writeFileAtomicSync(cache.path, [head, text, cache.bytes.subarray(cache.recordsAt)]);
    },
  };
}
