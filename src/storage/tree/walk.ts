import { checkTreeExtent } from './extent.js';
import { type FileEntry, type TreeNode } from './node.js';

export type TreeLoader = (id: string) => Promise<TreeNode>;

export interface WalkedFile extends FileEntry {
  path: string;
}

export type WalkedEntry =
  | WalkedFile
  | { path: string; name: string; type: 'symlink'; target: string }
  | { path: string; name: string; type: 'dir'; tree: string; size: number; files: number };

/**
 * Depth-first, in name order; directories are yielded before their contents. The whole tree's
 * extent is checked before the first entry (a tree bomb is refused, not walked).
 */
export async function* walkTree(rootId: string, load: TreeLoader, prefix = ''): AsyncGenerator<WalkedEntry> {
  if (prefix === '') await checkTreeExtent(rootId, load);
  yield* walkAt(rootId, load, prefix);
}

async function* walkAt(rootId: string, load: TreeLoader, prefix: string): AsyncGenerator<WalkedEntry> {
  const node = await load(rootId);
  for (const e of node.entries) {
    const path = prefix ? `${prefix}/${e.name}` : e.name;
    yield { ...e, path } as WalkedEntry;
    if (e.type === 'dir') yield* walkAt(e.tree, load, path);
  }
}

export async function listTree(rootId: string, load: TreeLoader): Promise<WalkedEntry[]> {
  const out: WalkedEntry[] = [];
  for await (const e of walkTree(rootId, load)) out.push(e);
  return out;
}

/** Caches decoded nodes; trees are immutable, so a cache never goes stale. */
export function cachedLoader(load: TreeLoader): TreeLoader {
  const cache = new Map<string, Promise<TreeNode>>();
  return (id) => {
    let p = cache.get(id);
    if (!p) {
      p = load(id);
      cache.set(id, p);
      p.catch(() => cache.delete(id));
    }
    return p;
  };
}
