import { spawnSync } from 'node:child_process';
import { NOT_CODE, type CodeFingerprint } from './fingerprint.js';

/** Files named in a plan at most; the rest are counted. */
const SHOWN = 20;

type FileDigests = ReadonlyMap<string, string | null>;

/**
 * What differs between two versions of the code, file by file ("train.py changed",
 * "util.py added", "old.py removed"), sorted by path. A path absent from a map, or null in
 * it, is a file that does not exist there.
 */
export function describeFileChanges(before: FileDigests, after: FileDigests, paths: Iterable<string>): string[] {
  const out: string[] = [];
  for (const p of [...new Set(paths)].sort()) {
    const a = before.get(p) ?? null;
    const b = after.get(p) ?? null;
    if (a === b) continue;
    out.push(`${p} ${a === null ? 'added' : b === null ? 'removed' : 'changed'}`);
  }
  return out.length > SHOWN ? [...out.slice(0, SHOWN), `and ${out.length - SHOWN} more`] : out;
}

const notCode = (p: string) => p.split('/').some((seg) => (NOT_CODE as readonly string[]).includes(seg));

/**
 * The files that differ between the code of an earlier run and now, in `dir` (the code
 * folder): each side's file is its recorded digest when it differed from its commit, else the
 * commit's own blob. Null when it cannot be told (runs from before per-file digests were kept,
 * a commit that is no longer in the repository, too many files).
 */
export function codeFileChanges(
  dir: string,
  before: Pick<CodeFingerprint, 'commit' | 'files'>,
  after: Pick<CodeFingerprint, 'commit' | 'files'>,
): string[] | null {
  if (!before.files || !after.files) return null;
  const prevFiles = before.files;
  const curFiles = after.files;
  if (before.commit === null || after.commit === null) {
    if (before.commit !== after.commit) return null;
    return describeFileChanges(new Map(Object.entries(prevFiles)), new Map(Object.entries(curFiles)), [
      ...Object.keys(prevFiles),
      ...Object.keys(curFiles),
    ]);
  }
  const git = (args: string[]) =>
    spawnSync('git', ['-C', dir, ...args], { encoding: 'utf8', maxBuffer: 1024 * 1024 * 1024 });
  const candidates = new Set([...Object.keys(prevFiles), ...Object.keys(curFiles)]);
  if (before.commit !== after.commit) {
    const d = git(['diff', '--name-only', '-z', '--relative', before.commit, after.commit, '--', '.']);
    if (d.status !== 0) return null;
    for (const p of d.stdout.split('\0')) if (p && !notCode(p)) candidates.add(p);
  }
  const side = (commit: string, files: Record<string, string | null>): Map<string, string | null> | null => {
    const tree = git(['ls-tree', '-r', '-z', commit, '--', '.']);
    if (tree.status !== 0) return null;
    const m = new Map<string, string | null>();
    for (const line of tree.stdout.split('\0')) {
      const tab = line.indexOf('\t');
      if (tab < 0) continue;
      const path = line.slice(tab + 1);
      if (candidates.has(path)) m.set(path, line.slice(0, tab).split(' ')[2] ?? null);
    }
    for (const [p, id] of Object.entries(files)) m.set(p, id);
    return m;
  };
  const a = side(before.commit, prevFiles);
  const b = side(after.commit, curFiles);
  return a && b ? describeFileChanges(a, b, candidates) : null;
}
