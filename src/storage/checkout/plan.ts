import type { FileMode } from '../tree/node.js';

export type Wanted =
  | { path: string; type: 'file'; digest: string; size: number; mode: FileMode; chunks: string[] }
  | { path: string; type: 'symlink'; target: string }
  | { path: string; type: 'dir' };

export type Present =
  { type: 'file'; digest: string; mode: FileMode } | { type: 'symlink'; target: string } | { type: 'dir' };

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
export function planCheckout(
  wanted: readonly Wanted[],
  present: ReadonlyMap<string, Present>,
  tracked: ReadonlyMap<string, string> | null,
  force: boolean,
): CheckoutPlan {
  const plan: CheckoutPlan = { write: [], remove: [], conflicts: [], untracked: [], unchanged: 0 };
  const wantedPaths = new Set(wanted.map((w) => w.path));
  const pristine = (path: string, p: Present): boolean => {
    const t = tracked?.get(path);
    if (t === undefined) return false;
    return p.type === 'file' ? t === p.digest : p.type === 'symlink' ? t === `->${p.target}` : false;
  };
  const removing = new Set<string>();
  const remove = (path: string) => {
    if (!removing.has(path)) {
      removing.add(path);
      plan.remove.push(path);
    }
  };
  const ctx: PlanContext = { plan, present, tracked, force, wantedPaths, pristine, remove };
  for (const w of wanted) {
    const p = present.get(w.path);
    if (w.type === 'dir') planDirectory(ctx, w, p);
    else if (!p) plan.write.push({ entry: w, replace: false });
    else planReplacement(ctx, w, p);
  }
  // What is here but not in the version: ours and untouched goes, the user's stays.
  for (const [path, p] of present) {
    if (wantedPaths.has(path) || p.type === 'dir' || removing.has(path)) continue;
    if (pristine(path, p)) remove(path);
    else if (tracked?.has(path)) {
      if (force) remove(path);
      else plan.conflicts.push({ path, reason: 'modified since checkout, and the version deletes it' });
    } else {
      plan.untracked.push(path);
    }
  }
  return plan;
}

interface PlanContext {
  plan: CheckoutPlan;
  present: ReadonlyMap<string, Present>;
  tracked: ReadonlyMap<string, string> | null;
  force: boolean;
  wantedPaths: ReadonlySet<string>;
  pristine(path: string, p: Present): boolean;
  remove(path: string): void;
}

function planDirectory(ctx: PlanContext, w: Wanted, p: Present | undefined): void {
  if (!p) ctx.plan.write.push({ entry: w, replace: false });
  else if (p.type !== 'dir') {
    // A file the previous checkout wrote may give way to a directory of the same name.
    if (ctx.pristine(w.path, p) || ctx.force) {
      ctx.remove(w.path);
      ctx.plan.write.push({ entry: w, replace: false });
    } else {
      ctx.plan.conflicts.push({ path: w.path, reason: `a ${p.type} with local changes is in the way of a directory` });
    }
  }
}

/** A file or symlink wanted where something already is. */
function planReplacement(ctx: PlanContext, w: Exclude<Wanted, { type: 'dir' }>, p: Present): void {
  const { plan, present, force } = ctx;
  const same =
    w.type === 'file'
      ? p.type === 'file' && p.digest === w.digest && p.mode === w.mode
      : p.type === 'symlink' && p.target === w.target;
  if (same) {
    plan.unchanged++;
    return;
  }
  if (p.type === 'dir') {
    // A directory may give way to a file only if everything in it is ours and unchanged
    // (it is removed below), or with --force.
    const prefix = `${w.path}/`;
    const inside = [...present].filter(([q, pq]) => q.startsWith(prefix) && pq.type !== 'dir');
    const blocking = inside.filter(([q, pq]) => !ctx.pristine(q, pq) || ctx.wantedPaths.has(q));
    if (blocking.length === 0 || force) {
      for (const [q] of inside) ctx.remove(q);
      plan.write.push({ entry: w, replace: true });
    } else {
      plan.conflicts.push({
        path: w.path,
        reason: `a directory holding ${blocking.length} local file(s) is in the way`,
      });
    }
  } else if (ctx.pristine(w.path, p) || force) {
    plan.write.push({ entry: w, replace: true });
  } else {
    plan.conflicts.push({
      path: w.path,
      reason: ctx.tracked?.has(w.path) ? 'modified since checkout' : 'untracked file differs from the version',
    });
  }
}
