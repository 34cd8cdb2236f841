import * as fs from 'node:fs';
import { CairnError, ioError, type ErrorCode } from '../../core/errors.js';
import { checkSegment } from '../../core/paths.js';
import { refuseUndecodable } from '../ingest/names.js';
import { SKIP_NAMES } from '../ingest/scan.js';
import { checkSymlink } from '../tree/node.js';
import {
  dirStatOf,
  forEachEntry,
  KIND_DIR,
  KIND_FILE,
  KIND_LINK,
  linkTargetAt,
  StatCacheFormatError,
  type DirStat,
  type RecordRef,
} from './binary.js';
import { racy } from './stat-cache.js';

/** What the comparison reads of an entry's lstat: a Node `Stats` or the native batch's fields. */
export interface EntryStat {
  mode: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = fs.constants;
export const isDirMode = (mode: number): boolean => (mode & S_IFMT) === S_IFDIR;
export const isFileMode = (mode: number): boolean => (mode & S_IFMT) === S_IFREG;
const isLinkMode = (mode: number): boolean => (mode & S_IFMT) === S_IFLNK;

/** A file whose stat values the cache cannot vouch for: it must be read. */
export interface FolderMiss {
  path: string;
  /** Where its entry's stat fields start in the cache buffer. */
  at: number;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  exec: boolean;
}

/** The stat-cache file as the main thread opened it (a worker reads its share of it). */
export interface CacheFile {
  path: string;
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** What one directory record found on disk (only the deviations are listed). */
export interface FolderFindings {
  unchanged: number;
  added: string[];
  removed: string[];
  modified: string[];
  misses: FolderMiss[];
  /** A directory the cache lists appeared or went away (the version's directory set changed). */
  dirsChanged: boolean;
  /**
   * File entries (stat-field offsets) that describe no file on disk now: a status that saves the
   * cache marks them untrusted, so a later scan time can never make a stale entry trusted.
   */
  untrust: number[];
  /** The record's subdirectory names (the caller checks each has a record of its own). */
  subdirs: string[];
  /** Whether the directory was listed (false: its own stat vouched for the record's names). */
  listed: boolean;
  /**
   * The directory stat a saved cache may record: the one taken before listing when the listing
   * equals the record's names and kinds, else null (unknown: the next status lists it).
   */
  dir: DirStat | null;
}

/** One share of the records for a stat child (the same inputs as the workers' task). */
export interface StatChildTask {
  length: number;
  file: CacheFile;
  records: RecordRef[];
  root: string;
  scannedAtMs: number;
}

export interface FoldersChecked {
  /** Aligned with the records given. */
  folders: FolderFindings[];
  /**
   * Directories of the cache that are not directories on disk any more: every record at or
   * below one is void (its files are removed), whatever its own check found, since a path
   * through a replaced directory may lead anywhere, even out of the tree.
   */
  gone: string[];
  /** Set when the tree holds something no version may hold (the walk of `add` refuses it too). */
  invalid?: { code: ErrorCode; message: string; data: Record<string, unknown>; hint?: string };
  /** Set when a record is malformed: the caller falls back to the full walk (it costs a re-hash). */
  damaged?: string;
}

/**
 * Compares directories on disk with their stat-cache records: one lstat per entry, no hashing,
 * no object per unchanged file, and one readdir per directory unless the directory's own stat
 * (inode, mtime, ctime: any entry added, removed or renamed changes them) equals the record's
 * and is settled (not within RACY_MS of the scan that recorded it), in which case the record's
 * names are the directory's. Synchronous: it runs in a storage worker, several directories at
 * a time on each worker, so the stat calls of a big tree are spread over the cores (they are
 * the whole cost of `status` on an unchanged tree).
 */
export function checkFolders(
  cache: Buffer,
  records: readonly RecordRef[],
  root: string,
  scannedAtMs: number,
  file?: CacheFile,
  enter = false,
): FoldersChecked {
  const out: FoldersChecked = { folders: [], gone: [] };
  if (file && records.length > 0) {
    const why = fillShare(cache, file, records[0]!.offset, records[records.length - 1]!.end);
    if (why) return { ...out, damaged: why };
  }
  try {
    for (const r of records) out.folders.push(checkFolder(cache, r, root, scannedAtMs, out.gone, enter));
  } catch (err) {
    failed(out, err);
  }
  return out;
}

/** Records why a comparison stopped: a malformed record (damaged) or what the tree holds (invalid). */
export function failed(out: FoldersChecked, err: unknown): void {
  if (err instanceof StatCacheFormatError) {
    out.damaged = err.message;
    return;
  }
  const e =
    err instanceof CairnError
      ? err
      : new CairnError('IO_ERROR', `status: ${(err as Error).message}`, { cause: err, data: {} });
  out.invalid = { code: e.code, message: e.message, data: e.data, ...(e.hint ? { hint: e.hint } : {}) };
}

/**
 * Reads the cache bytes `from`..`to` (this task's records, which lie end to end) into the shared
 * buffer, so the workers read the file in parallel instead of the main thread reading it all
 * first. The file is only ever replaced by a rename, never rewritten in place, so the same
 * inode with the same size and times holds the bytes the main thread indexed (the times rule
 * out an inode number reused by a newer file of the same size); anything else answers
 * "damaged" (the caller falls back to the full walk). Returns why it could not, or null.
 */
function fillShare(cache: Buffer, file: CacheFile, from: number, to: number): string | null {
  let fd: number;
  try {
    fd = fs.openSync(file.path, 'r');
  } catch (err) {
    return `stat cache unreadable: ${(err as Error).message}`;
  }
  try {
    const st = fs.fstatSync(fd);
    if (
      st.ino !== file.ino ||
      st.size !== file.size ||
      st.size !== cache.length ||
      st.mtimeMs !== file.mtimeMs ||
      st.ctimeMs !== file.ctimeMs
    )
      return 'stat cache replaced while read';
    for (let at = from; at < to;) {
      const n = fs.readSync(fd, cache, at, to - at, at);
      if (n === 0) return 'stat cache cut short while read';
      at += n;
    }
    return null;
  } catch (err) {
    return `stat cache unreadable: ${(err as Error).message}`;
  } finally {
    fs.closeSync(fd);
  }
}

/** `path` may be relative to the working directory (a stat child's folder). */
export function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw ioError(err, 'read', path.startsWith('/') ? path : `${process.cwd()}/${path}`);
  }
}

/**
 * Makes `dirAbs` the working directory when it is the directory `self` describes (same device
 * and inode: no link followed, nothing swapped in between), so its entries are stat'ed by name —
 * a one-component path walk in the kernel instead of one per component of the absolute path.
 * Only a process of its own may do this (the working directory is the whole process's): the
 * stat children of `stat-children.ts`. Returns the prefix to put before an entry's name.
 */
function enterFolder(dirAbs: string, self: fs.Stats): string {
  try {
    process.chdir(dirAbs);
    const here = fs.statSync('.');
    if (here.ino === self.ino && here.dev === self.dev) return '';
  } catch {
    // Gone or replaced since its lstat: the absolute names below find out what is there now.
  }
  return `${dirAbs}/`;
}

/** Findings before anything was found. */
export function noFindings(): FolderFindings {
  return {
    unchanged: 0,
    added: [],
    removed: [],
    modified: [],
    misses: [],
    dirsChanged: false,
    untrust: [],
    subdirs: [],
    listed: false,
    dir: null,
  };
}

export function checkFolder(
  cache: Buffer,
  r: RecordRef,
  root: string,
  scannedAtMs: number,
  gone: string[],
  enter: boolean,
): FolderFindings {
  const f = noFindings();
  const dirAbs = r.path === '' ? root : `${root}/${r.path}`;
  const prefix = r.path === '' ? '' : `${r.path}/`;
  // The directory's stat before its listing: a change after it shows in the next status.
  const self = lstatOrNull(dirAbs);
  if (!self || !self.isDirectory()) {
    gone.push(r.path);
    return f;
  }
  const at: Place = { cache, scannedAtMs, gone, f, differs: false };
  // How an entry's name is reached: relative to the working directory, or absolute.
  const base = enter ? enterFolder(dirAbs, self) : `${dirAbs}/`;
  const was = dirStatOf(cache, r);
  if (was.ino === self.ino && was.mtimeMs === self.mtimeMs && was.ctimeMs === self.ctimeMs && !racy(was, scannedAtMs)) {
    // Settled and unchanged: the record's names are the directory's (not listed again).
    checkSettled(at, r, dirAbs, base, prefix);
    f.dir = at.differs ? null : was;
    return f;
  }
  const names = folderNames(base === '' ? '.' : dirAbs);
  if (!names) {
    gone.push(r.path);
    return f;
  }
  f.listed = true;
  // Name → where its entry starts (kind byte): no object per cached entry.
  const cached = new Map<string, number>();
  forEachEntry(cache, r, (kind, nameAt, nameLen) => {
    const name = cache.toString('utf8', nameAt, nameAt + nameLen);
    cached.set(name, nameAt - 3);
    if (kind === KIND_DIR) f.subdirs.push(name);
  });
  for (const name of names) {
    if (SKIP_NAMES.has(name)) continue;
    if (name.includes('\uFFFD')) refuseUndecodable(dirAbs, r.path);
    const st = lstatOrNull(base + name);
    if (!st) continue;
    const c = cached.get(name);
    if (c !== undefined) cached.delete(name);
    checkEntry(at, dirAbs, base, prefix + name, name, st, c === undefined ? undefined : entryAt(cache, c), true);
  }
  cachedGone(at, cached, prefix);
  // The stat taken before the listing describes it when the names and kinds are the record's.
  f.dir = at.differs ? null : { ino: self.ino, mtimeMs: self.mtimeMs, ctimeMs: self.ctimeMs };
  return f;
}

/** The record's names the listing did not show (`cached`: name → where its entry starts). */
export function cachedGone(p: Place, cached: ReadonlyMap<string, number>, prefix: string): void {
  const { cache, f } = p;
  for (const [name, c] of cached) {
    const e = entryAt(cache, c);
    p.differs = true;
    if (e.kind === KIND_DIR) {
      p.gone.push(prefix + name);
      f.dirsChanged = true;
    } else {
      f.removed.push(prefix + name);
      if (e.kind === KIND_FILE) f.untrust.push(e.at);
    }
  }
}

/**
 * A directory whose own stat vouches for its record's names: each file and link of the record
 * is still stat'ed (a rewrite in place changes the file, not its directory); nothing is listed.
 * `base` is what goes before a name to reach it ('' inside the directory).
 */
function checkSettled(at: Place, r: RecordRef, dirAbs: string, base: string, prefix: string): void {
  const { cache, f } = at;
  forEachEntry(cache, r, (kind, nameAt, nameLen, entry) => {
    const name = cache.toString('utf8', nameAt, nameAt + nameLen);
    if (kind === KIND_DIR) {
      f.subdirs.push(name);
      return;
    }
    settledEntry(at, dirAbs, base, prefix, name, kind, entry, lstatOrNull(base + name));
  });
}

/**
 * One file or link of a settled directory's record against its lstat (null: gone). `entry`:
 * where the rest of its entry starts; `known`: a link's target read through the folder's fd.
 */
export function settledEntry(
  at: Place,
  dirAbs: string,
  base: string,
  prefix: string,
  name: string,
  kind: number,
  entry: number,
  st: EntryStat | null,
  known?: string,
): void {
  const { cache, f } = at;
  if (!st) {
    // Gone although the directory's stat says otherwise (a clock set back): removed all the same.
    f.removed.push(prefix + name);
    if (kind === KIND_FILE) f.untrust.push(entry);
    at.differs = true;
  } else if (kind === KIND_FILE && isFileMode(st.mode)) checkFile(at, prefix + name, st, entry);
  else {
    // No object per entry on the common path above; a kind that changed takes the long way.
    const c: Cached =
      kind === KIND_LINK ? { kind, at: entry, target: linkTargetAt(cache, entry) } : { kind, at: entry };
    checkEntry(at, dirAbs, base, prefix + name, name, st, c, false, known);
  }
}

/** What `checkEntry` needs of a cached entry: its kind, a file's stat offset, a link's target. */
export interface Cached {
  kind: number;
  at: number;
  target?: string;
}

export function entryAt(cache: Buffer, off: number): Cached {
  const kind = cache[off]!;
  const at = off + 3 + cache.readUInt16LE(off + 1);
  return kind === KIND_LINK ? { kind, at, target: linkTargetAt(cache, at) } : { kind, at };
}

/** The names in a directory, or null when it is no (real) directory any more. */
function folderNames(dirAbs: string): string[] | null {
  try {
    return fs.readdirSync(dirAbs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw ioError(err, 'read directory', dirAbs);
  }
}

export interface Place {
  cache: Buffer;
  scannedAtMs: number;
  gone: string[];
  f: FolderFindings;
  /** The directory's names or kinds differ from the record's. */
  differs: boolean;
}

/**
 * One name on disk against its cached entry (if any). `checkNames`: the name came from a
 * listing, not from the record (whose names passed these checks when it was written).
 */
export function checkEntry(
  p: Place,
  dirAbs: string,
  base: string,
  rel: string,
  name: string,
  st: EntryStat,
  c: Cached | undefined,
  checkNames: boolean,
  known?: string,
): void {
  const f = p.f;
  const abs = `${dirAbs}/${name}`;
  if (isDirMode(st.mode)) {
    if (c?.kind === KIND_DIR) return;
    p.differs = true;
    // A directory the version does not have: everything in it is new.
    if (c) f.removed.push(rel);
    if (c?.kind === KIND_FILE) f.untrust.push(c.at);
    f.dirsChanged = true;
    addedTree(base + name, abs, rel, f);
    return;
  }
  if (c?.kind === KIND_DIR) {
    p.gone.push(rel);
    f.dirsChanged = true;
    p.differs = true;
  }
  if (checkNames) checkName(name);
  if (isFileMode(st.mode)) {
    if (c?.kind === KIND_FILE) checkFile(p, rel, st, c.at);
    else {
      p.differs = true;
      if (c?.kind === KIND_LINK) f.removed.push(rel);
      f.added.push(rel);
    }
  } else if (isLinkMode(st.mode)) {
    // `known`: read through the folder's fd by the native batch.
    const target = known === undefined ? linkTarget(base + name, abs, rel) : checkedTarget(rel, known);
    if (c?.kind === KIND_LINK) {
      if (c.target !== target) {
        f.modified.push(rel);
        p.differs = true;
      }
    } else {
      p.differs = true;
      if (c?.kind === KIND_FILE) {
        f.removed.push(rel);
        f.untrust.push(c.at);
      }
      f.added.push(rel);
    }
  } else throw special(abs, rel);
}

/** A file the version has: unchanged when all four stat values match a settled entry. */
export function checkFile(p: Place, rel: string, st: EntryStat, at: number): void {
  const exec = (st.mode & 0o111) !== 0;
  // Read in place (statAt's layout), no object per unchanged file.
  const b = p.cache;
  const mtimeMs = b.readDoubleLE(at + 16);
  const ctimeMs = b.readDoubleLE(at + 24);
  if (
    b.readDoubleLE(at) !== st.ino ||
    b.readDoubleLE(at + 8) !== st.size ||
    mtimeMs !== st.mtimeMs ||
    ctimeMs !== st.ctimeMs ||
    racy({ mtimeMs, ctimeMs }, p.scannedAtMs)
  ) {
    p.f.misses.push({ path: rel, at, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, exec });
  } else if ((b[at + 32] === 1) !== exec) {
    p.f.modified.push(rel);
    p.f.untrust.push(at);
  } else p.f.unchanged++;
}

function checkedTarget(rel: string, target: string): string {
  checkSymlink(rel, target);
  return target;
}

/** `at`: how to reach the link (relative inside its directory); `abs` names it in errors. */
function linkTarget(at: string, abs: string, rel: string): string {
  let target: string;
  try {
    target = fs.readlinkSync(at);
  } catch (err) {
    throw ioError(err, 'read link', abs);
  }
  checkSymlink(rel, target);
  return target;
}

function special(abs: string, rel: string): CairnError {
  return new CairnError('INVALID_INPUT', `${abs} is not a regular file, directory or symlink`, {
    data: { path: rel },
    hint: 'sockets, FIFOs and device files cannot be versioned; move them out of the tree',
  });
}

/**
 * The same checks the walk of `add` makes on a file or link name (scan.ts). A listed name
 * holding U+FFFD was checked against the folder's bytes (names.ts) where it was listed.
 */
function checkName(name: string): void {
  checkSegment(name);
}

/**
 * Everything under a directory the cache does not know, with the walk's checks on each name.
 * `at` reaches it (relative to the working directory or absolute); `dirAbs` names it in errors.
 */
function addedTree(at: string, dirAbs: string, rel: string, f: FolderFindings): void {
  let names: string[];
  try {
    names = fs.readdirSync(at);
  } catch (err) {
    throw ioError(err, 'read directory', dirAbs);
  }
  for (const name of names) {
    if (SKIP_NAMES.has(name)) continue;
    if (name.includes('\uFFFD')) refuseUndecodable(dirAbs, rel);
    const childRel = `${rel}/${name}`;
    const abs = `${dirAbs}/${name}`;
    const st = lstatOrNull(`${at}/${name}`);
    if (!st) continue;
    if (st.isDirectory()) {
      addedTree(`${at}/${name}`, abs, childRel, f);
      continue;
    }
    checkName(name);
    if (st.isSymbolicLink()) linkTarget(`${at}/${name}`, abs, childRel);
    else if (!st.isFile()) throw special(abs, childRel);
    f.added.push(childRel);
  }
}
