import * as fs from 'node:fs';
import { basename } from 'node:path';
import { CairnError, ioError } from '../../core/errors.js';
import { checkSegment } from '../../core/paths.js';
import { checkSymlink, compareNames, type FileMode } from '../tree/node.js';
import { refuseUndecodable } from './names.js';

export interface ScannedFile {
  path: string;
  abs: string;
  size: number;
  mode: FileMode;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
}

/**
 * A scanned file. `abs` is derived from the walk's root and `path` on demand, not stored: at a
 * million files the absolute paths alone were ~100 MB (issue 16).
 */
class Scanned implements ScannedFile {
  constructor(
    readonly base: string,
    readonly path: string,
    readonly size: number,
    readonly mode: FileMode,
    readonly ino: number,
    readonly mtimeMs: number,
    readonly ctimeMs: number,
  ) {}
  get abs(): string {
    return this.base + this.path;
  }
}

export interface Scan {
  files: ScannedFile[];
  symlinks: Array<{ path: string; target: string }>;
  dirs: string[];
  totalBytes: number;
  /** Wall clock when the walk began: stat caches built from this scan are as old as this. */
  startedAtMs: number;
}

/**
 * Never snapshot a workspace's own metadata, wherever it sits in the tree (a directory added
 * from the workspace root holds `.cairn`). The name is reserved: no tree may hold it.
 */
export const SKIP_NAMES = new Set(['.cairn']);

/**
 * Walks a file or directory with synchronous calls: for tens of thousands of entries,
 * lstat/readdir through the thread pool cost several times more than doing them inline.
 */
export function scanSource(source: string): Scan {
  const scan: Scan = { files: [], symlinks: [], dirs: [], totalBytes: 0, startedAtMs: Date.now() };
  let st: fs.Stats;
  try {
    st = fs.lstatSync(source);
  } catch (err) {
    throw ioError(err, 'read', source);
  }
  if (st.isDirectory()) {
    walk(source, '', scan, source.endsWith('/') ? source : `${source}/`);
  } else {
    const name = basename(source);
    visit(source, name, st, scan, source.slice(0, source.length - name.length));
  }
  return scan;
}

/** `base`: the text that `rel` paths extend into absolute ones (the root and a slash). */
function walk(abs: string, rel: string, scan: Scan, base: string): void {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(abs, { withFileTypes: true });
  } catch (err) {
    throw ioError(err, 'read directory', abs);
  }
  names.sort((a, b) => compareNames(a.name, b.name));
  for (const d of names) {
    if (SKIP_NAMES.has(d.name)) continue;
    if (d.name.includes('\uFFFD')) refuseUndecodable(abs, rel);
    const childAbs = abs.endsWith('/') ? abs + d.name : `${abs}/${d.name}`;
    const childRel = rel ? `${rel}/${d.name}` : d.name;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(childAbs);
    } catch (err) {
      throw ioError(err, 'read', childAbs);
    }
    if (st.isDirectory()) {
      scan.dirs.push(childRel);
      walk(childAbs, childRel, scan, base);
    } else {
      visit(childAbs, childRel, st, scan, base);
    }
  }
}

function visit(abs: string, rel: string, st: fs.Stats, scan: Scan, base: string): void {
  // A listed name holding U+FFFD was checked against the folder's bytes (names.ts) by the caller.
  checkSegment(rel.slice(rel.lastIndexOf('/') + 1));
  if (st.isFile()) {
    const size = st.size;
    const file = new Scanned(base, rel, size, (st.mode & 0o111) !== 0 ? '755' : '644', st.ino, st.mtimeMs, st.ctimeMs);
    if (file.abs !== abs) throw new CairnError('INTERNAL', `scan: ${abs} is not ${base} + ${rel}`);
    scan.files.push(file);
    scan.totalBytes += size;
  } else if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = fs.readlinkSync(abs);
    } catch (err) {
      throw ioError(err, 'read link', abs);
    }
    checkSymlink(rel, target);
    scan.symlinks.push({ path: rel, target });
  } else {
    throw new CairnError('INVALID_INPUT', `${abs} is not a regular file, directory or symlink`, {
      data: { path: rel },
      hint: 'sockets, FIFOs and device files cannot be versioned; move them out of the tree',
    });
  }
}

/** One folder's entries, sorted by name: its files, its symlinks, the names of its subfolders. */
export interface FolderListing {
  files: ScannedFile[];
  symlinks: Array<{ name: string; path: string; target: string }>;
  dirs: string[];
  /**
   * The folder's own stat, taken before it was listed (so a later change to its entries changes
   * it): what lets `status` skip listing the folder again. Absent when not taken.
   */
  dir?: { ino: number; mtimeMs: number; ctimeMs: number };
}

/**
 * Lists one folder (`rel` '' for the root) with the same checks as the full walk, without
 * descending: `add` walks folder by folder so that no list of the whole tree is held.
 */
export function scanFolder(abs: string, rel: string, base: string): FolderListing {
  let names: fs.Dirent[];
  let self: fs.Stats;
  try {
    // Before the listing: an entry added or removed after it changes the folder's mtime and
    // ctime from what is recorded here, so a stale listing is never vouched for.
    self = fs.lstatSync(abs);
    names = fs.readdirSync(abs, { withFileTypes: true });
  } catch (err) {
    throw ioError(err, 'read directory', abs);
  }
  const items: Array<{ name: string; st: fs.Stats }> = [];
  for (const d of names) {
    if (SKIP_NAMES.has(d.name)) continue;
    if (d.name.includes('\uFFFD')) refuseUndecodable(abs, rel);
    const childAbs = abs.endsWith('/') ? abs + d.name : `${abs}/${d.name}`;
    try {
      items.push({ name: d.name, st: fs.lstatSync(childAbs) });
    } catch (err) {
      throw ioError(err, 'read', childAbs);
    }
  }
  const listing = listingOf(items, rel, base);
  if (self.isDirectory()) listing.dir = { ino: self.ino, mtimeMs: self.mtimeMs, ctimeMs: self.ctimeMs };
  return listing;
}

/** A listing from entries already stat'ed (sorted here), named `base` + `rel` + name. */
export function listingOf(items: Array<{ name: string; st: fs.Stats }>, rel: string, base: string): FolderListing {
  items.sort((a, b) => compareNames(a.name, b.name));
  const scan: Scan = { files: [], symlinks: [], dirs: [], totalBytes: 0, startedAtMs: 0 };
  const listing: FolderListing = { files: scan.files, symlinks: [], dirs: [] };
  for (const { name, st } of items) {
    const childRel = rel ? `${rel}/${name}` : name;
    if (st.isDirectory()) {
      checkSegment(name);
      listing.dirs.push(name);
      continue;
    }
    visit(base + childRel, childRel, st, scan, base);
  }
  for (const l of scan.symlinks) listing.symlinks.push({ name: l.path.slice(l.path.lastIndexOf('/') + 1), ...l });
  return listing;
}

/**
 * Every symlink below `source` (readdir only, no stat per file): `add` checks link chains
 * against each other before a byte is stored, without holding a listing of the tree.
 */
export function scanLinks(source: string): Array<{ path: string; target: string }> {
  const out: Array<{ path: string; target: string }> = [];
  const walk = (abs: string, rel: string) => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(abs, { withFileTypes: true });
    } catch (err) {
      throw ioError(err, 'read directory', abs);
    }
    for (const d of names) {
      if (SKIP_NAMES.has(d.name)) continue;
      if (d.name.includes('\uFFFD')) refuseUndecodable(abs, rel);
      const childAbs = `${abs}/${d.name}`;
      const childRel = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) walk(childAbs, childRel);
      else if (d.isSymbolicLink()) {
        let target: string;
        try {
          target = fs.readlinkSync(childAbs);
        } catch (err) {
          throw ioError(err, 'read link', childAbs);
        }
        checkSymlink(childRel, target);
        out.push({ path: childRel, target });
      }
    }
  };
  let st: fs.Stats;
  try {
    st = fs.lstatSync(source);
  } catch (err) {
    throw ioError(err, 'read', source);
  }
  if (st.isDirectory()) walk(source.endsWith('/') ? source.slice(0, -1) || '/' : source, '');
  return out;
}
