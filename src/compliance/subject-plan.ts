import { CairnError } from '../core/errors.js';
import { EMPTY_FILE_DIGEST } from '../storage/tree/node.js';

/** A version that may hold a subject's files, as the planner sees it: its files by path and digest. */
export interface CandidateVersion {
  ref: string;
  versionId: string;
  /** Bare hex root digest. */
  digest: string;
  files: ReadonlyArray<{ path: string; sha256: string }>;
  /** Already erased (its bytes are gone): nothing left to remove. */
  erased: boolean;
}

export interface VersionPlan {
  ref: string;
  versionId: string;
  digest: string;
  /**
   * Files of the subject: `path` when the pattern names them, `content` when they hold the same
   * bytes as one that does, `scan` when they are texts the PII scanner found the subject in.
   */
  remove: Array<{ path: string; sha256: string; why: 'path' | 'content' | 'scan' }>;
  /** Tables holding rows of the subject: kept, rewritten without those rows. */
  rewrite: Array<{ path: string; sha256: string; rows: number[]; total: number }>;
  keep: Array<{ path: string }>;
}

/** What searching a file's bytes found (by file digest): see subject-rows.ts. */
export type FileHit = { type: 'file' } | { type: 'rows'; rows: number[]; total: number };

export interface SubjectPlan {
  /** Versions that hold files of the subject: each gets a replacement without them, then is erased. */
  versions: VersionPlan[];
  /** Versions searched that hold nothing of the subject (or were erased before). */
  untouched: string[];
}

const PLACEHOLDER = '{subject}';

/**
 * The matcher of `--key`: a path pattern over a version's files, with `{subject}` standing for
 * the subject's id, `*` for any characters within one path segment, `?` for one, `**` for any
 * number of segments. The subject is matched literally (its `*` is no wildcard). Refused: a pattern
 * without `{subject}` (it would match every subject's files alike), absolute or `..` patterns, and
 * a subject that could widen the match across directories (`/`, `..`, control characters).
 */
export function subjectMatcher(pattern: string, subject: string): (path: string) => boolean {
  const problem = patternProblem(pattern) ?? subjectProblem(subject);
  if (problem)
    throw new CairnError('INVALID_INPUT', problem, {
      hint: "name the subject's files with a relative pattern such as 'users/{subject}/**' or '**/{subject}_*.jpg'",
    });
  let re = '^';
  for (let i = 0; i < pattern.length;) {
    if (pattern.startsWith(PLACEHOLDER, i)) {
      re += escapeRe(subject);
      i += PLACEHOLDER.length;
    } else if (pattern.startsWith('**/', i)) {
      re += '(?:[^/]+/)*';
      i += 3;
    } else if (pattern.startsWith('**', i)) {
      re += '.*';
      i += 2;
    } else if (pattern[i] === '*') {
      re += '[^/]*';
      i++;
    } else if (pattern[i] === '?') {
      re += '[^/]';
      i++;
    } else {
      re += escapeRe(pattern[i]!);
      i++;
    }
  }
  const rx = new RegExp(re + '$', 'u');
  return (path) => rx.test(path);
}

function patternProblem(p: string): string | null {
  if (!p.includes(PLACEHOLDER))
    return `--key ${JSON.stringify(p)} does not contain {subject}: it would match the files of every subject alike`;
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p))
    return `--key ${JSON.stringify(p)} is absolute: patterns are relative to the version's root`;
  if (p.includes('\\')) return `--key ${JSON.stringify(p)} contains a backslash: paths in a version use /`;
  if (p.split('/').some((s) => s === '..' || s === '.' || s === ''))
    return `--key ${JSON.stringify(p)} has an empty, '.' or '..' segment: patterns name paths inside a version`;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(p)) return '--key contains a control character';
  return null;
}

function subjectProblem(s: string): string | null {
  if (s.length === 0) return '--subject is empty';
  if (s.length > 512) return '--subject is longer than 512 characters';
  if (s === '.' || s === '..' || s.includes('/') || s.includes('\\'))
    return `--subject ${JSON.stringify(s)} would reach across directories: a subject id is one path segment at most`;
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(s)) return '--subject contains a control character';
  return null;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Pure: which files of which versions belong to the subject. A file is the subject's when the
 * pattern matches its path, or when it holds the same bytes (file digest) as such a file in any
 * searched version: a derived version (a split, a cleaning) may have moved or renamed it. `hits`
 * (by file digest) adds what a search of the files' contents found: texts holding the subject
 * leave whole, tables holding rows of the subject are rewritten without them. Versions are visited in the order given; each appears once.
 */
export function planSubjectErasure(
  candidates: readonly CandidateVersion[],
  matches: (path: string) => boolean,
  hits: ReadonlyMap<string, FileHit> = new Map(),
): SubjectPlan {
  const digests = new Set<string>();
  for (const v of candidates) if (!v.erased) for (const f of v.files) if (matches(f.path)) digests.add(f.sha256);
  // Every empty file has this digest: it says nothing about whose file it is.
  digests.delete(EMPTY_FILE_DIGEST);
  const versions: VersionPlan[] = [];
  const untouched: string[] = [];
  const seen = new Set<string>();
  for (const v of candidates) {
    if (seen.has(v.versionId)) continue;
    seen.add(v.versionId);
    if (v.erased) {
      untouched.push(v.ref);
      continue;
    }
    const remove: VersionPlan['remove'] = [];
    const rewrite: VersionPlan['rewrite'] = [];
    const keep: VersionPlan['keep'] = [];
    for (const f of v.files) {
      const hit = hits.get(f.sha256);
      if (matches(f.path)) remove.push({ path: f.path, sha256: f.sha256, why: 'path' });
      else if (digests.has(f.sha256)) remove.push({ path: f.path, sha256: f.sha256, why: 'content' });
      else if (hit?.type === 'file') remove.push({ path: f.path, sha256: f.sha256, why: 'scan' });
      else if (hit?.type === 'rows') rewrite.push({ path: f.path, sha256: f.sha256, rows: hit.rows, total: hit.total });
      else keep.push({ path: f.path });
    }
    if (remove.length || rewrite.length)
      versions.push({ ref: v.ref, versionId: v.versionId, digest: v.digest, remove, rewrite, keep });
    else untouched.push(v.ref);
  }
  return { versions, untouched };
}
