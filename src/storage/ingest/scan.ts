import * as fs from 'node:fs';
import { basename } from 'node:path';
import { CairnError, ioError } from '../../core/errors.js';
import { checkSegment } from '../../core/paths.js';
import { checkSymlink, compareNames, type FileMode } from '../tree/node.js';

export interface ScannedFile {
  path: string;
  abs: string;
  size: number;
  mode: FileMode;
  ino: number;
  mtimeMs: number;
  ctimeMs: number;
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
    walk(source, '', scan);
  } else {
    visit(source, basename(source), st, scan);
  }
  return scan;
}

function walk(abs: string, rel: string, scan: Scan): void {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(abs, { withFileTypes: true });
  } catch (err) {
    throw ioError(err, 'read directory', abs);
  }
  names.sort((a, b) => compareNames(a.name, b.name));
  for (const d of names) {
    if (SKIP_NAMES.has(d.name)) continue;
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
      walk(childAbs, childRel, scan);
    } else {
      visit(childAbs, childRel, st, scan);
    }
  }
}

function visit(abs: string, rel: string, st: fs.Stats, scan: Scan): void {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  if (name.includes('\uFFFD')) {
    throw new CairnError('INVALID_INPUT', `file name ${JSON.stringify(rel)} is not valid UTF-8`, {
      data: { path: rel },
      hint: 'rename the file',
    });
  }
  checkSegment(name);
  if (st.isFile()) {
    const size = st.size;
    scan.files.push({
      path: rel,
      abs,
      size,
      mode: (st.mode & 0o111) !== 0 ? '755' : '644',
      ino: st.ino,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
    });
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
