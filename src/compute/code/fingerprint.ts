import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import { refuseUndecodable, refuseUndecodablePath } from '../../storage/ingest/names.js';

export interface CodeFingerprint {
  /** HEAD commit, or null outside a git repository. */
  commit: string | null;
  /** Digest of uncommitted changes (tracked diffs and untracked files), or null when clean. */
  dirty: string | null;
  /**
   * Per-file digests, paths relative to the code folder, so `run plan` can name the files
   * that differ from an earlier run: in git, the files that differ from the commit (git blob
   * ids; `null` for a deleted file); outside git, every file (SHA-256). Empty when there are
   * more than MAX_FILES of them: null (the digests above still cover them).
   */
  files: Record<string, string | null> | null;
  /**
   * With `only` (a spec's `code: [paths]`): a digest of the contents of just those paths as
   * they are now (in git: the files git would track there), independent of the commit, so a
   * commit that touches other files — or commits these as they are — leaves it unchanged.
   */
  scoped?: string;
}

/**
 * Never code, in or out of git: Cairn's own workspace (it changes with every command: the
 * metadata, the audit log, run outputs and caches), version control, and interpreter and
 * dependency byproducts a job writes next to its code.
 */
export const NOT_CODE = ['.git', '.cairn', 'node_modules', '__pycache__', '.venv'] as const;
const SKIP = new Set<string>(NOT_CODE);
/** Per-file digests kept per run at most (a folder of data next to the code is not worth a megabyte per run). */
export const MAX_FILES = 10_000;

/**
 * The code a run uses: the git commit plus a digest of whatever differs from it, so "same
 * commit, edited file" is a different run. Outside git, a digest of every file (names and
 * contents) stands in for both. NOT_CODE and the folders in `exclude` (absolute: the
 * workspace, the input cache, anything a run writes) are left out either way, so running a
 * job never changes the fingerprint of the code that ran.
 */
export function codeFingerprint(
  dir: string,
  opts: { exclude?: readonly string[]; only?: readonly string[] } = {},
): CodeFingerprint {
  const excluded = (opts.exclude ?? [])
    .map((e) => relative(dir, e))
    .filter((r) => r !== '' && !r.startsWith('..') && !isAbsolute(r));
  const git = (args: string[], input?: string) =>
    spawnSync('git', ['-C', dir, ...args], {
      encoding: 'buffer',
      maxBuffer: 1024 * 1024 * 1024,
      ...(input !== undefined ? { input: Buffer.from(input) } : {}),
    });
  const head = git(['rev-parse', 'HEAD']);
  if (head.status !== 0) {
    const t = treeFingerprint(dir, excluded, opts.only);
    return opts.only ? { ...t, scoped: t.dirty! } : t;
  }
  const commit = head.stdout.toString('utf8').trim();
  const only = opts.only?.map((p) => `:(literal)${p.split(sep).join('/')}`);
  // Pathspecs are relative to `dir`; `**/` also matches no folder at all.
  const spec = [
    '--',
    ...(only ?? ['.']),
    ...NOT_CODE.map((n) => `:(exclude,glob)**/${n}/**`),
    ...excluded.map((r) => `:(exclude,literal)${r.split(sep).join('/')}`),
  ];
  const status = git(['status', '--porcelain=v1', '-z', '--untracked-files=all', ...spec]);
  // The declared paths by content: the files git would track there (committed, or new and not
  // ignored), so the same bytes give the same digest whether or not they are committed yet.
  const listed = only ? git(['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', ...only]) : null;
  if (listed && listed.status !== 0)
    throw new Error(`git ls-files failed in ${dir}: ${listed.stderr.toString('utf8')}`);
  const code = (rel: string) =>
    !rel.split('/').some((seg) => SKIP.has(seg)) &&
    !excluded.some((e) => rel === e || rel.startsWith(`${e}/`)) &&
    utf8Name(dir, rel);
  const scoped = () =>
    listed ? { scoped: contentDigest(dir, listed.stdout.toString('utf8').split('\0').filter(code)) } : {};
  if (status.stdout.length === 0) return { commit, dirty: null, files: {}, ...scoped() };
  const h = createHash('sha256');
  h.update(git(['diff', 'HEAD', '--binary', ...spec]).stdout);
  const top = git(['rev-parse', '--show-toplevel']).stdout.toString('utf8').trim();
  const prefix = git(['rev-parse', '--show-prefix']).stdout.toString('utf8').trim();
  const changed: string[] = [];
  const entries = status.stdout.toString('utf8').split('\0');
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.length < 4) continue;
    const xy = entry.slice(0, 2);
    const rel = entry.slice(3);
    utf8Name(top, rel);
    // A rename or copy is followed by its source path.
    if (xy[0] === 'R' || xy[0] === 'C') {
      const from = entries[++i];
      if (from) changed.push(from);
    }
    changed.push(rel);
    if (xy !== '??') continue;
    h.update(`\0untracked\0${rel}\0`);
    try {
      h.update(readFileSync(join(top, rel)));
    } catch {
      /* vanished meanwhile */
    }
  }
  const dirty = h.digest('hex');
  return {
    commit,
    dirty,
    files: changed.length > MAX_FILES ? null : blobIds(git, top, prefix, changed),
    ...scoped(),
  };
}

/** SHA-256 over the sorted relative paths and contents of files (a deleted one counts as absent). */
function contentDigest(dir: string, rels: readonly string[]): string {
  const h = createHash('sha256');
  for (const rel of [...new Set(rels.filter(Boolean))].sort()) {
    h.update(`${rel}\0`);
    try {
      const bytes = readFileSync(join(dir, rel));
      h.update(`${bytes.length}\0`).update(bytes);
    } catch {
      h.update('absent\0');
    }
  }
  return h.digest('hex');
}

/** git blob ids of the working copies of `paths` (relative to the repository's top); null for a deleted one. */
function blobIds(
  git: (args: string[], input?: string) => ReturnType<typeof spawnSync>,
  top: string,
  prefix: string,
  paths: readonly string[],
): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  const present: string[] = [];
  for (const p of new Set(paths)) {
    if (!p.startsWith(prefix)) continue;
    try {
      if (lstatSync(join(top, p)).isFile()) present.push(p);
      else out[p.slice(prefix.length)] = null;
    } catch {
      out[p.slice(prefix.length)] = null;
    }
  }
  if (present.length) {
    const r = git(['hash-object', '--stdin-paths'], present.map((p) => join(top, p)).join('\n') + '\n');
    const ids = r.status === 0 ? r.stdout.toString().trim().split('\n') : [];
    present.forEach((p, i) => (out[p.slice(prefix.length)] = ids[i] ?? null));
  }
  return out;
}

function treeFingerprint(dir: string, excluded: readonly string[], only?: readonly string[]): CodeFingerprint {
  const h = createHash('sha256');
  const files: Record<string, string> = {};
  let count = 0;
  const skipped = new Set(excluded.map((r) => join(dir, r)));
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (SKIP.has(name)) continue;
      // A name that is not UTF-8 names no file: skipped, its edits would not change the key.
      if (name.includes('\uFFFD')) refuseUndecodable(d, relative(dir, d).split(sep).join('/'));
      const p = join(d, name);
      if (skipped.has(p)) continue;
      const st = statSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        const bytes = readFileSync(p);
        const rel = relative(dir, p);
        h.update(`${rel}\0${st.size}\0`).update(bytes);
        if (++count <= MAX_FILES) files[rel.split(sep).join('/')] = createHash('sha256').update(bytes).digest('hex');
      }
    }
  };
  if (!only) walk(dir);
  for (const o of [...(only ?? [])].sort()) {
    const p = join(dir, o);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isDirectory()) walk(p);
    else if (st?.isFile()) {
      const rel = relative(dir, p);
      const bytes = readFileSync(p);
      h.update(`${rel}\0${st.size}\0`).update(bytes);
      if (++count <= MAX_FILES) files[rel.split(sep).join('/')] = createHash('sha256').update(bytes).digest('hex');
    }
  }
  return { commit: null, dirty: h.digest('hex'), files: count > MAX_FILES ? null : files };
}

/**
 * Git lists names as bytes; one that is not UTF-8 decodes to a name no file has, so its bytes
 * would be left out of the key: refused (INVALID_INPUT). True otherwise (a filter).
 */
function utf8Name(root: string, rel: string): boolean {
  if (rel.includes('\uFFFD')) refuseUndecodablePath(root, rel);
  return true;
}
