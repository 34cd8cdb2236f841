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
export async function diffTrees(a: string | null, b: string | null, load: TreeLoader, prefix = ''): Promise<DiffChange[]> {
  if (a === b) return [];
  const ea = a ? (await load(a)).entries : [];
  const eb = b ? (await load(b)).entries : [];
  const out: DiffChange[] = [];
  let i = 0;
  let j = 0;
  while (i < ea.length || j < eb.length) {
    const x = ea[i];
    const y = eb[j];
    const cmp = x && y ? compareNames(x.name, y.name) : x ? -1 : 1;
    if (cmp < 0) {
      out.push(...(await expand(x!, 'removed', prefix, load)));
      i++;
    } else if (cmp > 0) {
      out.push(...(await expand(y!, 'added', prefix, load)));
      j++;
    } else {
      const path = join(prefix, x!.name);
      if (x!.type === 'dir' && y!.type === 'dir') {
        out.push(...(await diffTrees(x!.tree, y!.tree, load, path)));
      } else if (x!.type !== y!.type) {
        out.push(...(await expand(x!, 'removed', prefix, load)), ...(await expand(y!, 'added', prefix, load)));
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

async function expand(e: TreeEntry, change: 'added' | 'removed', prefix: string, load: TreeLoader): Promise<DiffChange[]> {
  const path = join(prefix, e.name);
  if (e.type === 'dir') {
    const inner = change === 'added' ? await diffTrees(null, e.tree, load, path) : await diffTrees(e.tree, null, load, path);
    // An empty directory has no files to list but is still part of the version.
    return inner.length > 0 ? inner : [{ path, change, type: 'dir', oldSize: null, newSize: null }];
  }
  const size = e.type === 'file' ? e.size : null;
  return [{
    path,
    change,
    type: e.type,
    oldSize: change === 'removed' ? size : null,
    newSize: change === 'added' ? size : null,
    ...(e.type === 'file' ? (change === 'removed' ? { oldDigest: e.digest } : { newDigest: e.digest }) : {}),
  }];
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}/${name}` : name;
}
