import * as fs from 'node:fs';
import { constants } from 'node:os';
import { refuseUndecodable } from '../ingest/names.js';
import { SKIP_NAMES } from '../ingest/scan.js';
import { dirStatOf, forEachEntry, KIND_DIR, KIND_FILE, StatCacheFormatError, type RecordRef } from './binary.js';
import {
  cachedGone,
  checkEntry,
  checkFolder,
  entryAt,
  failed,
  isFileMode,
  lstatOrNull,
  noFindings,
  settledEntry,
  type CacheFile,
  type EntryStat,
  type FolderFindings,
  type FoldersChecked,
  type Place,
} from './check-folders.js';
import { FLAG_BAD_NAME, FLAG_TARGET, type NativeFolder, type StatBatch } from './native.js';
import { RACY_MS, racy } from './stat-cache.js';

const { ENOENT, ENOTDIR } = constants.errno;

/** Folders in flight: enough to keep libuv's thread pool busy while this thread compares. */
const LANES = 8;

/**
 * `checkFolders` with the native stat batch (native/statbatch): the stats of each folder run on
 * libuv's thread pool, through the folder's own fd (opened without following a link, checked
 * to be the folder this thread lstat'ed: the stat children's `.` check), while this thread
 * compares the folders already stat'ed. Same findings as `checkFolders`: the decisions (settled
 * or listed, what differs) are its functions'; only where the stat values come from changes,
 * and an unchanged file of a settled folder is checked on the typed arrays, no string or object
 * made. A folder the addon cannot vouch for (not the one lstat'ed, unreadable) and any name that
 * is not plain UTF-8 go the old way (absolute paths). Each record is read from the cache file
 * as it is compared, so this process never holds the whole cache.
 */
export async function checkFoldersNative(
  nb: StatBatch,
  file: CacheFile,
  records: readonly RecordRef[],
  root: string,
  scannedAtMs: number,
): Promise<FoldersChecked> {
  const out: FoldersChecked = { folders: new Array<FolderFindings>(records.length), gone: [] };
  const source = openRecords(file);
  if (typeof source === 'string') return { folders: [], gone: [], damaged: source };
  let next = 0;
  let stop = false;
  const lane = async () => {
    // Each lane reads its folders' records into a buffer of its own, reused: no fresh memory
    // per folder (a record is done with when its folder is).
    let own = Buffer.alloc(0);
    while (!stop && next < records.length) {
      const i = next++;
      const r = records[i]!;
      if (own.length < r.end - r.offset) own = Buffer.allocUnsafeSlow(Math.max(r.end - r.offset, 1 << 16));
      try {
        const b = source.read(r, own.subarray(0, r.end - r.offset));
        out.folders[i] = await checkOne(nb, b, r, root, scannedAtMs, out.gone);
      } catch (err) {
        if (!stop) failed(out, err);
        stop = true;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(LANES, records.length) }, lane));
  } finally {
    source.close();
  }
  return out;
}

interface RecordSource {
  /** One record's bytes read into `into` (its size): offsets in it start at the record. */
  read(r: RecordRef, into: Buffer): Buffer;
  close(): void;
}

/**
 * The cache file, checked to be the one the index was read from (as `fillShare` checks it);
 * why not, as a string (the caller falls back to the full walk).
 */
function openRecords(file: CacheFile): RecordSource | string {
  let fd: number;
  try {
    fd = fs.openSync(file.path, 'r');
    const st = fs.fstatSync(fd);
    if (st.ino !== file.ino || st.size !== file.size || st.mtimeMs !== file.mtimeMs || st.ctimeMs !== file.ctimeMs) {
      fs.closeSync(fd);
      return 'stat cache replaced while read';
    }
  } catch (err) {
    return `stat cache unreadable: ${(err as Error).message}`;
  }
  return {
    read(r, b) {
      try {
        for (let at = 0; at < b.length;) {
          const n = fs.readSync(fd, b, at, b.length - at, r.offset + at);
          if (n === 0) throw new StatCacheFormatError('stat cache cut short while read');
          at += n;
        }
      } catch (err) {
        if (err instanceof StatCacheFormatError) throw err;
        throw new StatCacheFormatError(`stat cache unreadable: ${(err as Error).message}`);
      }
      return b;
    },
    close: () => fs.closeSync(fd),
  };
}

/** Offsets in a record's own buffer, and back. */
function localRef(r: RecordRef): RecordRef {
  const base = r.offset;
  return {
    ...r,
    offset: 0,
    end: r.end - base,
    entriesAt: r.entriesAt - base,
    dirAt: r.dirAt < 0 ? -1 : r.dirAt - base,
  };
}

function shifted(f: FolderFindings, base: number): FolderFindings {
  for (const m of f.misses) m.at += base;
  for (let i = 0; i < f.untrust.length; i++) f.untrust[i]! += base;
  return f;
}

async function checkOne(
  nb: StatBatch,
  b: Buffer,
  r: RecordRef,
  root: string,
  scannedAtMs: number,
  gone: string[],
): Promise<FolderFindings> {
  const local = localRef(r);
  const dirAbs = r.path === '' ? root : `${root}/${r.path}`;
  // The directory's stat before its listing: a change after it shows in the next status.
  const self = lstatOrNull(dirAbs);
  if (!self || !self.isDirectory()) {
    gone.push(r.path);
    return noFindings();
  }
  const p: Place = { cache: b, scannedAtMs, gone, f: noFindings(), differs: false };
  const was = dirStatOf(b, local);
  const done =
    was.ino === self.ino && was.mtimeMs === self.mtimeMs && was.ctimeMs === self.ctimeMs && !racy(was, scannedAtMs)
      ? await settledFolder(nb, p, local, dirAbs, self)
      : await listedFolder(nb, p, local, dirAbs, self);
  if (done) p.f.dir = p.differs ? null : done === 'settled' ? was : dirStat(self);
  // Not the folder lstat'ed, or unreadable: the old way, by absolute names.
  return shifted(done ? p.f : checkFolder(b, local, root, scannedAtMs, gone, false), r.offset);
}

function dirStat(s: fs.Stats): FolderFindings['dir'] {
  return { ino: s.ino, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
}

/** The addon's answer as typed arrays and strings (names when listed, then link targets). */
interface Stats {
  n: number;
  stats: Float64Array;
  info: Int32Array;
  strings: string[];
}

function statsOf(res: NativeFolder): Stats {
  const n = res.n;
  const rest = res.buf.byteLength - 44 * n;
  return {
    n,
    stats: new Float64Array(res.buf, 0, 4 * n),
    info: new Int32Array(res.buf, 32 * n, 3 * n),
    // Decoded as Node decodes a listing (invalid UTF-8 becomes U+FFFD; such names are flagged).
    strings:
      rest > 0
        ? Buffer.from(res.buf, 44 * n, rest)
            .toString('utf8')
            .split('\0')
        : [],
  };
}

/** Entry `i`'s stat; a flagged name or an unexpected error is stat'ed the old way (null: gone). */
function entryStat(s: Stats, i: number, dirAbs: string, name: string): EntryStat | null {
  const err = s.info[3 * i + 1]!;
  if ((s.info[3 * i + 2]! & FLAG_BAD_NAME) !== 0 || (err !== 0 && err !== ENOENT && err !== ENOTDIR))
    return lstatOrNull(`${dirAbs}/${name}`);
  if (err !== 0) return null;
  const o = 4 * i;
  return {
    mode: s.info[3 * i]!,
    ino: s.stats[o]!,
    size: s.stats[o + 1]!,
    mtimeMs: s.stats[o + 2]!,
    ctimeMs: s.stats[o + 3]!,
  };
}

/** A link target read through the folder's fd, when the native stat is the one used. */
function knownTarget(s: Stats, i: number, target: string | undefined): string | undefined {
  return s.info[3 * i + 1] === 0 && (s.info[3 * i + 2]! & FLAG_BAD_NAME) === 0 ? target : undefined;
}

/**
 * A settled folder (its own stat vouches for the record's names): the record's files and links
 * are stat'ed by name, nothing is listed. Null when the addon could not vouch for the folder.
 */
async function settledFolder(
  nb: StatBatch,
  p: Place,
  r: RecordRef,
  dirAbs: string,
  self: fs.Stats,
): Promise<'settled' | null> {
  const spans = toStat(p.cache, r, p.f.subdirs);
  const res = await nb.statFolder(dirAbs, self.dev, self.ino, p.cache, spans);
  if (res.status !== 0 || res.n * 4 !== spans.length) return null;
  compareSettled(p, r, dirAbs, spans, statsOf(res));
  return 'settled';
}

/** The settled folder's entries (`spans`, as `toStat` made them) against their stat values. */
function compareSettled(p: Place, r: RecordRef, dirAbs: string, spans: Int32Array, s: Stats): void {
  const { cache: b, f } = p;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const prefix = r.path === '' ? '' : `${r.path}/`;
  for (let i = 0, t = 0; i < s.n; i++) {
    const kind = spans[4 * i]!;
    const entry = spans[4 * i + 3]!;
    const flags = s.info[3 * i + 2]!;
    const target = (flags & FLAG_TARGET) !== 0 ? s.strings[t++] : undefined;
    // The common case, a file whose four stat values and mode match: typed arrays only.
    if (kind === KIND_FILE && s.info[3 * i + 1] === 0 && (flags & FLAG_BAD_NAME) === 0) {
      if (isFileMode(s.info[3 * i]!) && sameFile(view, entry, s, i, p.scannedAtMs)) {
        f.unchanged++;
        continue;
      }
    }
    const name = b.toString('utf8', spans[4 * i + 1]!, spans[4 * i + 1]! + spans[4 * i + 2]!);
    const st = entryStat(s, i, dirAbs, name);
    settledEntry(p, dirAbs, `${dirAbs}/`, prefix, name, kind, entry, st, knownTarget(s, i, target));
  }
}

/** `checkFile`'s "unchanged" case, read off the typed arrays. */
function sameFile(b: DataView, at: number, s: Stats, i: number, scannedAtMs: number): boolean {
  const o = 4 * i;
  const mtimeMs = b.getFloat64(at + 16, true);
  const ctimeMs = b.getFloat64(at + 24, true);
  return (
    b.getFloat64(at, true) === s.stats[o] &&
    b.getFloat64(at + 8, true) === s.stats[o + 1] &&
    mtimeMs === s.stats[o + 2] &&
    ctimeMs === s.stats[o + 3] &&
    // `racy` (stat-cache.ts), inline: no object per file.
    !(mtimeMs + RACY_MS >= scannedAtMs || ctimeMs + RACY_MS >= scannedAtMs) &&
    (b.getUint8(at + 32) === 1) === ((s.info[3 * i]! & 0o111) !== 0)
  );
}

/**
 * The record's files and links as four int32 each (kind, where the name starts, its length,
 * where the rest of the entry starts): what the addon stats and the comparison walks. The
 * subdirectories' names go to `subdirs`.
 */
function toStat(b: Buffer, r: RecordRef, subdirs: string[]): Int32Array {
  // Each entry takes at least 3 bytes: a damaged count cannot ask for more room than that.
  const most = Math.min(b.readUInt32LE(r.entriesAt), Math.floor((r.end - r.entriesAt) / 3));
  const spans = new Int32Array(4 * most);
  let n = 0;
  forEachEntry(b, r, (kind, nameAt, nameLen, at) => {
    if (kind === KIND_DIR) {
      subdirs.push(b.toString('utf8', nameAt, nameAt + nameLen));
      return;
    }
    spans[4 * n] = kind;
    spans[4 * n + 1] = nameAt;
    spans[4 * n + 2] = nameLen;
    spans[4 * n + 3] = at;
    n++;
  });
  return spans.subarray(0, 4 * n);
}

/** A folder whose own stat changed: listed (through its fd) and compared name by name. */
async function listedFolder(
  nb: StatBatch,
  p: Place,
  r: RecordRef,
  dirAbs: string,
  self: fs.Stats,
): Promise<'listed' | null> {
  const res = await nb.statFolder(dirAbs, self.dev, self.ino, null, null);
  if (res.status !== 0) return null;
  const { cache: b, f } = p;
  f.listed = true;
  const prefix = r.path === '' ? '' : `${r.path}/`;
  // Name → where its entry starts (kind byte): no object per cached entry.
  const cached = new Map<string, number>();
  forEachEntry(b, r, (kind, nameAt, nameLen) => {
    const name = b.toString('utf8', nameAt, nameAt + nameLen);
    cached.set(name, nameAt - 3);
    if (kind === KIND_DIR) f.subdirs.push(name);
  });
  const s = statsOf(res);
  for (let i = 0, t = 0; i < s.n; i++) {
    const name = s.strings[t++]!;
    const target = (s.info[3 * i + 2]! & FLAG_TARGET) !== 0 ? s.strings[t++] : undefined;
    if (SKIP_NAMES.has(name)) continue;
    // The addon flags a name that is not plain UTF-8: one that names no file is refused.
    if ((s.info[3 * i + 2]! & FLAG_BAD_NAME) !== 0 && name.includes('\uFFFD')) refuseUndecodable(dirAbs, r.path);
    const st = entryStat(s, i, dirAbs, name);
    if (!st) continue;
    const c = cached.get(name);
    if (c !== undefined) cached.delete(name);
    const was = c === undefined ? undefined : entryAt(b, c);
    checkEntry(p, dirAbs, `${dirAbs}/`, prefix + name, name, st, was, true, knownTarget(s, i, target));
  }
  cachedGone(p, cached, prefix);
  return 'listed';
}
