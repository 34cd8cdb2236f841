import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { removeTree } from '../storage/cache/read-only.js';
import type { FlatListing } from '../storage/tree/list.js';

/** Entries of a cache folder that are not part of the version (the completion marker). */
const MARKERS = new Set(['.complete']);

/**
 * A digest of what `stat` says about every entry below `dir` (path, type, mode, size, inode,
 * mtime and ctime in nanoseconds). Any write, truncation, rename, new or removed file, or
 * chmod changes it — ctime moves even when a writer restores the mtime — while reading
 * changes nothing, so it can be checked on every use at the cost of one stat per entry.
 */
export function statFingerprint(dir: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    const abs = rel ? join(dir, rel) : dir;
    const st = lstatSync(abs, { bigint: true });
    h.update(`${rel}\0${st.mode}\0${st.size}\0${st.ino}\0${st.mtimeNs}\0${st.ctimeNs}\n`);
    if (st.isDirectory()) for (const name of readdirSync(abs).sort()) walk(rel ? `${rel}/${name}` : name);
  };
  walk('');
  return h.digest('hex');
}

/** Whether `dir` holds exactly the version `listing` describes, every file re-hashed. */
export function matchesListing(dir: string, listing: FlatListing): boolean {
  const want = new Map<string, 'file' | 'dir' | 'symlink'>();
  for (const f of listing.files) want.set(f.path, 'file');
  for (const d of listing.dirs) want.set(d, 'dir');
  for (const l of listing.symlinks) want.set(l.path, 'symlink');
  // Nothing more and nothing less than the version (the marker aside).
  const seen = new Set<string>();
  const walk = (rel: string): boolean => {
    for (const name of readdirSync(rel ? join(dir, rel) : dir)) {
      const p = rel ? `${rel}/${name}` : name;
      if (!rel && MARKERS.has(name)) continue;
      const kind = want.get(p);
      const st = lstatSync(join(dir, p));
      const actual = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
      if (kind !== actual) return false;
      seen.add(p);
      if (actual === 'dir' && !walk(p)) return false;
    }
    return true;
  };
  if (!walk('') || seen.size !== want.size) return false;
  for (const l of listing.symlinks) if (readlinkSync(join(dir, l.path)) !== l.target) return false;
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const f of listing.files) {
    const p = join(dir, f.path);
    if (lstatSync(p).size !== f.entry.size) return false;
    const h = createHash('sha256');
    const fd = openSync(p, 'r');
    try {
      for (let n = readSync(fd, buf, 0, buf.length, null); n > 0; n = readSync(fd, buf, 0, buf.length, null))
        h.update(buf.subarray(0, n));
    } finally {
      closeSync(fd);
    }
    if (h.digest('hex') !== f.entry.digest) return false;
  }
  return true;
}

/**
 * Makes a complete cache folder read-only — files 0444 (0555 when the version marks them
 * executable), folders 0555 — so a job cannot append to an input or add a file to it by
 * accident (the owner, and root, still can: the fingerprint catches those).
 */
export function makeReadOnly(dir: string, listing: FlatListing): void {
  for (const f of listing.files) chmodSync(join(dir, f.path), f.entry.mode === '755' ? 0o555 : 0o444);
  for (const m of MARKERS) {
    try {
      chmodSync(join(dir, m), 0o444);
    } catch {
      /* no marker */
    }
  }
  // Deepest first, the folder itself last: a read-only parent would not stop chmod, but keep the order obvious.
  for (const d of [...listing.dirs].sort((a, b) => b.length - a.length)) chmodSync(join(dir, d), 0o555);
  chmodSync(dir, 0o555);
}

/** The seal of a cache entry: where its stat fingerprint is kept, outside the folder a job can see. */
export interface Seal {
  format: 'cairn.cache-seal/v1';
  fingerprint: string;
  sealedAt: string;
}

export function readSeal(path: string): Seal | null {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as Seal;
    return s.format === 'cairn.cache-seal/v1' && typeof s.fingerprint === 'string' ? s : null;
  } catch {
    return null;
  }
}

export function writeSeal(path: string, dir: string, now: Date): void {
  const seal: Seal = { format: 'cairn.cache-seal/v1', fingerprint: statFingerprint(dir), sealedAt: now.toISOString() };
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, `${JSON.stringify(seal)}\n`);
  renameSync(tmp, path);
}

/**
 * Takes a cache folder out of use at once (renamed aside, so the next build can take its
 * name), then deletes it, read-only folders included. A job still reading it keeps its open
 * files; nobody can open a new one under the old name.
 */
export function discardEntry(dir: string): void {
  const aside = join(dirname(dir), `.discard-${randomBytes(6).toString('hex')}`);
  try {
    renameSync(dir, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  removeTree(aside);
}
