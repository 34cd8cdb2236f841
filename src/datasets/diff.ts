import { formatDigest } from '../core/digest.js';
import { diffTrees, type DiffChange } from '../storage/tree/diff.js';
import type { DatasetDeps } from './deps.js';
import { resolveVersion } from './resolve.js';
import { assertNotErased } from './erased.js';
import { treeLoader } from './trees.js';

export interface DiffResult {
  from: string;
  to: string;
  added: DiffChange[];
  removed: DiffChange[];
  modified: DiffChange[];
  summary: { added: number; removed: number; modified: number; bytesAdded: number; bytesRemoved: number };
}

export async function diffVersions(deps: DatasetDeps, a: string, b: string): Promise<DiffResult> {
  const ra = await resolveVersion(deps.meta.db, a);
  const rb = await resolveVersion(deps.meta.db, b);
  for (const r of [ra, rb]) await assertNotErased(deps.meta.db, r.version.digest, r.ref);
  const changes = await diffTrees(ra.version.digest, rb.version.digest, treeLoader(deps));
  const fmt = (c: DiffChange): DiffChange => ({
    ...c,
    ...(c.oldDigest ? { oldDigest: formatDigest(c.oldDigest) } : {}),
    ...(c.newDigest ? { newDigest: formatDigest(c.newDigest) } : {}),
  });
  const added = changes.filter((c) => c.change === 'added').map(fmt);
  const removed = changes.filter((c) => c.change === 'removed').map(fmt);
  const modified = changes.filter((c) => c.change === 'modified').map(fmt);
  const bytesAdded =
    added.reduce((n, c) => n + (c.newSize ?? 0), 0) +
    modified.reduce((n, c) => n + Math.max(0, (c.newSize ?? 0) - (c.oldSize ?? 0)), 0);
  const bytesRemoved =
    removed.reduce((n, c) => n + (c.oldSize ?? 0), 0) +
    modified.reduce((n, c) => n + Math.max(0, (c.oldSize ?? 0) - (c.newSize ?? 0)), 0);
  return {
    from: ra.ref,
    to: rb.ref,
    added,
    removed,
    modified,
    summary: { added: added.length, removed: removed.length, modified: modified.length, bytesAdded, bytesRemoved },
  };
}
