import { CairnError } from '../../core/errors.js';
import { EXPANSION_FACTOR, EXPANSION_FLOOR } from './extent.js';
import { compareNames, type TreeEntry } from './node.js';
import type { TreeLoader } from './walk.js';

export interface DiffChange {
  path: string;
  change: 'added' | 'removed' | 'modified';
  type: 'file' | 'symlink' | 'dir';
  /** Size before and after (files only; null where absent). */
  oldSize: number | null;
  newSize: number | null;
  oldDigest?: string;
  newDigest?: string;
}

/**
 * Compares two trees, descending only into directories whose node ids differ, so the cost is
 * proportional to what changed. Added or removed directories are expanded into their files.
 */
export async function diffTrees(
  a: string | null,
  b: string | null,
  load: TreeLoader,
  prefix = '',
): Promise<DiffChange[]> {
  return diffAt(a, b, load, prefix, { seen: new Set(), stored: 0, compared: 0 });
}

/**
 * What a diff has read: distinct nodes and the entries they store, and entries compared. A
 * diff visits only what changed, so the tree is never measured up front; instead the work is
 * bounded as it goes by the same rule as extent.ts, which stops a pair of tree bombs (nodes
 * naming the same child hundreds of times) before their expansion fills memory.
 */
interface DiffBudget {
  seen: Set<string>;
  stored: number;
  compared: number;
}

async function loadCounted(id: string, load: TreeLoader, budget: DiffBudget): Promise<TreeEntry[]> {
  const { entries } = await load(id);
  if (!budget.seen.has(id)) {
    budget.seen.add(id);
    budget.stored += entries.length;
  }
  budget.compared += entries.length;
  if (budget.compared > EXPANSION_FLOOR + EXPANSION_FACTOR * budget.stored) {
    throw new CairnError(
      'LIMIT_EXCEEDED',
      `the diff expands to more than ${budget.compared} entries from ${budget.stored} stored; refusing to go on`,
      {
        data: { tree: id, compared: budget.compared, stored: budget.stored },
        hint: 'one of the versions repeats the same directories far more than real data does (a tree bomb)',
      },
    );
  }
  return entries;
}

async function diffAt(
  a: string | null,
  b: string | null,
  load: TreeLoader,
  prefix: string,
  budget: DiffBudget,
): Promise<DiffChange[]> {
  if (a === b) return [];
  const ea = a ? await loadCounted(a, load, budget) : [];
  const eb = b ? await loadCounted(b, load, budget) : [];
  const out: DiffChange[] = [];
  let i = 0;
  let j = 0;
  while (i < ea.length || j < eb.length) {
    const x = ea[i];
    const y = eb[j];
    const cmp = x && y ? compareNames(x.name, y.name) : x ? -1 : 1;
    if (cmp < 0) {
      out.push(...(await expand(x!, 'removed', prefix, load, budget)));
      i++;
    } else if (cmp > 0) {
      out.push(...(await expand(y!, 'added', prefix, load, budget)));
      j++;
    } else {
      const path = join(prefix, x!.name);
      if (x!.type === 'dir' && y!.type === 'dir') {
        out.push(...(await diffAt(x!.tree, y!.tree, load, path, budget)));
      } else if (x!.type !== y!.type) {
        out.push(
          ...(await expand(x!, 'removed', prefix, load, budget)),
          ...(await expand(y!, 'added', prefix, load, budget)),
        );
      } else if (!sameLeaf(x!, y!)) {
        out.push({
          path,
          change: 'modified',
          type: x!.type === 'file' ? 'file' : 'symlink',
          oldSize: x!.type === 'file' ? x!.size : null,
          newSize: y!.type === 'file' ? y!.size : null,
          ...(x!.type === 'file' ? { oldDigest: x!.digest } : {}),
          ...(y!.type === 'file' ? { newDigest: y!.digest } : {}),
        });
      }
      i++;
      j++;
    }
  }
  return out;
}

function sameLeaf(x: TreeEntry, y: TreeEntry): boolean {
  if (x.type === 'file' && y.type === 'file') return x.digest === y.digest && x.mode === y.mode;
  if (x.type === 'symlink' && y.type === 'symlink') return x.target === y.target;
  return false;
}

async function expand(
  e: TreeEntry,
  change: 'added' | 'removed',
  prefix: string,
  load: TreeLoader,
  budget: DiffBudget,
): Promise<DiffChange[]> {
  const path = join(prefix, e.name);
  if (e.type === 'dir') {
    const inner =
      change === 'added'
        ? await diffAt(null, e.tree, load, path, budget)
        : await diffAt(e.tree, null, load, path, budget);
    // An empty directory has no files to list but is still part of the version.
    return inner.length > 0 ? inner : [{ path, change, type: 'dir', oldSize: null, newSize: null }];
  }
  const size = e.type === 'file' ? e.size : null;
  return [
    {
      path,
      change,
      type: e.type,
      oldSize: change === 'removed' ? size : null,
      newSize: change === 'added' ? size : null,
      ...(e.type === 'file' ? (change === 'removed' ? { oldDigest: e.digest } : { newDigest: e.digest }) : {}),
    },
  ];
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}/${name}` : name;
}
