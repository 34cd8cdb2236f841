import { CairnError } from './errors.js';

/**
 * Paths inside manifests are POSIX, relative, and never leave their root. They are checked
 * when a manifest is written and again before anything is materialized, because a manifest
 * may arrive from a remote we do not control.
 */
export function checkRelPath(p: string): string {
  const problem = relPathProblem(p);
  if (problem) {
    throw new CairnError('PATH_UNSAFE', `refusing path ${JSON.stringify(p)}: ${problem}`, { data: { path: p } });
  }
  return p;
}

export function relPathProblem(p: string): string | null {
  if (typeof p !== 'string' || p.length === 0) return 'it is empty';
  if (p.includes('\0')) return 'it contains a NUL byte';
  if (p.startsWith('/')) return 'it is absolute';
  if (/^[A-Za-z]:/.test(p) || p.startsWith('\\')) return 'it is an absolute Windows path';
  for (const seg of p.split('/')) {
    if (seg === '') return 'it has an empty segment';
    if (seg === '..') return 'it climbs out with ..';
    if (seg === '.') return 'it has a . segment';
    if (RESERVED_NAMES.has(seg)) return RESERVED_WHY;
  }
  return null;
}

/**
 * Names no tree may hold. `.cairn` is a workspace's metadata (database, signing key, store):
 * a version holding it, checked out into a workspace, would overwrite them.
 */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(['.cairn']);
const RESERVED_WHY = "it names .cairn, which is reserved for a workspace's metadata";

/** One path segment (a name inside a directory). */
export function checkSegment(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new CairnError('PATH_UNSAFE', `refusing file name ${JSON.stringify(name)}`, { data: { name } });
  }
  if (RESERVED_NAMES.has(name)) {
    throw new CairnError('PATH_UNSAFE', `refusing file name ${JSON.stringify(name)}: ${RESERVED_WHY}`, {
      data: { name },
    });
  }
  return name;
}

/** Whether an absolute (or relative) filesystem path is, or lies inside, a reserved directory. */
export function inReservedDir(path: string): boolean {
  return path.split(/[\\/]/).some((seg) => RESERVED_NAMES.has(seg));
}

/**
 * Whether a symlink stored at `linkPath` (relative to the root) with target `target` stays
 * inside the root once resolved lexically. A target through `.cairn` leaves it too: no tree
 * holds that name, so the link could only reach a workspace's metadata. (Links that climb out
 * through other links of the same tree are caught by storage/tree/links.ts.)
 */
export function symlinkStaysInside(linkPath: string, target: string): boolean {
  if (target.length === 0 || target.startsWith('/') || target.includes('\0')) return false;
  const parts = linkPath.split('/').slice(0, -1);
  for (const seg of target.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) return false;
      parts.pop();
    } else {
      if (RESERVED_NAMES.has(seg)) return false;
      parts.push(seg);
    }
  }
  return true;
}
