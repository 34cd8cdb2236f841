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
  }
  return null;
}

/** One path segment (a name inside a directory). */
export function checkSegment(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new CairnError('PATH_UNSAFE', `refusing file name ${JSON.stringify(name)}`, { data: { name } });
  }
  return name;
}

/**
 * Whether a symlink stored at `linkPath` (relative to the root) with target `target` stays
 * inside the root once resolved lexically.
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
      parts.push(seg);
    }
  }
  return true;
}
