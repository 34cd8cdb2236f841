import type { FileMode } from '../tree/node.js';

export type Wanted =
  | { path: string; type: 'file'; digest: string; size: number; mode: FileMode; chunks: string[] }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'dir' };

export type Present =
  | { type: 'file'; digest: string; mode: FileMode }
  | { type: 'symlink'; target: string }
  | { type: 'dir' };

export interface CheckoutPlan {
  /** Paths to (re)write, in tree order; `replace` when something is already there. */
  write: Array<{ entry: Wanted; replace: boolean }>;
  /** Files a previous checkout created, unchanged since, that the new version does not have. */
  remove: string[];
  conflicts: Array<{ path: string; reason: string }>;
  untracked: string[];
  unchanged: number;
}

/**
 * Pure: decides what a checkout must do. `tracked` holds what the previous checkout into this
 * directory wrote (path → digest or symlink target), so we can tell "old version, safe to
 * replace" from "someone edited this". Anything else that would be lost is a conflict unless
 * `force` is set. Untracked files the new version does not name are left alone.
 */
export function planCheckout(wanted: readonly Wanted[], present: ReadonlyMap<string, Present>, tracked: ReadonlyMap<string, string> | null, force: boolean): CheckoutPlan {
  const plan: CheckoutPlan = { write: [], remove: [], conflicts: [], untracked: [], unchanged: 0 };
  const wantedPaths = new Set(wanted.map((w) => w.path));
  const pristine = (path: string, p: Present): boolean => {
    const t = tracked?.get(path);
    if (t === undefined) return false;
    return p.type === 'file' ? t === p.digest : p.type === 'symlink' ? t === `->${p.target}` : false;
  };
  for (const w of wanted) {
    const p = present.get(w.path);
    if (w.type === 'dir') {
      if (!p) plan.write.push({ entry: w, replace: false });
      else if (p.type !== 'dir') conflictOr(plan, force, w.path, `a ${p.type} is in the way of a directory`, () => plan.write.push({ entry: w, replace: true }));
      continue;
    }
    if (!p) {
      plan.write.push({ entry: w, replace: false });
      continue;
    }
    const same = w.type === 'file' ? p.type === 'file' && p.digest === w.digest && p.mode === w.mode : p.type === 'symlink' && p.target === w.target;
    if (same) {
      plan.unchanged++;
      continue;
    }
    if (p.type === 'dir') {
      conflictOr(plan, force, w.path, 'a directory is in the way', () => plan.write.push({ entry: w, replace: true }));
    } else if (pristine(w.path, p) || force) {
      plan.write.push({ entry: w, replace: true });
    } else {
      plan.conflicts.push({ path: w.path, reason: tracked?.has(w.path) ? 'modified since checkout' : 'untracked file differs from the version' });
    }
  }
  for (const [path, p] of present) {
    if (wantedPaths.has(path) || p.type === 'dir') continue;
    if (pristine(path, p)) plan.remove.push(path);
    else if (tracked?.has(path)) {
      if (force) plan.remove.push(path);
      else plan.conflicts.push({ path, reason: 'modified since checkout, and the version deletes it' });
    } else {
      plan.untracked.push(path);
    }
  }
  return plan;
}

function conflictOr(plan: CheckoutPlan, force: boolean, path: string, reason: string, onForce: () => void): void {
  if (force) onForce();
  else plan.conflicts.push({ path, reason });
}
