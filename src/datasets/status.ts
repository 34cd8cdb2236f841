import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import { checkDatasetName } from '../core/names.js';
import { formatRef } from '../core/refs.js';
import { findDataset, latestVersion } from '../meta/repos/datasets.js';
import { loadStatCache, saveStatCache } from '../storage/statcache/stat-cache.js';
import { walkTree } from '../storage/tree/walk.js';
import type { DatasetDeps } from './deps.js';
import { treeLoader } from './trees.js';
import { workingState, type WorkEntry } from './workdir.js';

export interface StatusResult {
  dataset: string;
  path: string;
  base: string | null;
  added: string[];
  removed: string[];
  modified: string[];
  unchanged: number;
  clean: boolean;
  hashed: number;
}

/** What changed in a directory since the dataset's latest version (git status for data). */
export async function statusOf(deps: DatasetDeps, path: string, name: string): Promise<StatusResult> {
  checkDatasetName(name);
  const root = resolve(path);
  if (!existsSync(root)) throw new CairnError('IO_ERROR', `${path} does not exist`, { data: { path } });
  const ds = await findDataset(deps.meta.db, name);
  const latest = ds ? await latestVersion(deps.meta.db, ds.id) : undefined;
  const cache = loadStatCache(deps.cacheDir, root);
  const work = await workingState(deps.pool, root, cache);
  const base = new Map<string, WorkEntry>();
  if (latest) {
    for await (const e of walkTree(latest.digest, treeLoader(deps))) {
      if (e.type === 'file') base.set(e.path, { type: 'file', digest: e.digest, size: e.size, mode: e.mode });
      else if (e.type === 'symlink') base.set(e.path, { type: 'symlink', target: e.target });
    }
  }
  const added: string[] = [];
  const removed: string[] = [];
  const modified: string[] = [];
  let unchanged = 0;
  for (const [p, w] of work.entries) {
    if (w.type === 'dir') continue;
    const b = base.get(p);
    if (!b) added.push(p);
    else if (!sameEntry(b, w)) modified.push(p);
    else unchanged++;
  }
  for (const p of base.keys()) if (!work.entries.has(p) || work.entries.get(p)!.type === 'dir') removed.push(p);
  if (work.hashed > 0) saveStatCache(deps.cacheDir, work.cache);
  return {
    dataset: name,
    path: root,
    base: latest ? formatRef(name, latest.number) : null,
    added: added.sort(),
    removed: removed.sort(),
    modified: modified.sort(),
    unchanged,
    clean: added.length + removed.length + modified.length === 0,
    hashed: work.hashed,
  };
}

export function sameEntry(a: WorkEntry, b: WorkEntry): boolean {
  if (a.type === 'file' && b.type === 'file') return a.digest === b.digest && a.mode === b.mode;
  if (a.type === 'symlink' && b.type === 'symlink') return a.target === b.target;
  return a.type === b.type;
}
