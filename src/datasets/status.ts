import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import { checkDatasetName } from '../core/names.js';
import { formatRef } from '../core/refs.js';
import { findDataset, latestVersion } from '../meta/repos/datasets.js';
import { scanSource } from '../storage/ingest/scan.js';
import { openFolderCache, statusByFolders } from '../storage/statcache/folder-status.js';
import { loadStatCache, saveStatCache } from '../storage/statcache/stat-cache.js';
import { nativeStatBatch } from '../storage/statcache/native.js';
import { StatChildren } from '../storage/statcache/stat-children.js';
import { listFlat } from '../storage/tree/list.js';
import { baselineFromCache, compareWithBaseline, type Baseline } from './compare.js';
import type { DatasetDeps } from './deps.js';
import { treeLoader } from './trees.js';

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

/** The version's contents, from the stat cache when it describes that version, else its trees. */
export async function baselineOf(deps: DatasetDeps, digest: string, cacheBase: Baseline | null): Promise<Baseline> {
  if (cacheBase && cacheBase.digest === digest) return cacheBase;
  const listing = await listFlat(digest, treeLoader(deps));
  return {
    digest,
    files: new Map(
      listing.files.map(({ path, entry: e }) => [
        path,
        { digest: e.digest, mode: e.mode, size: e.size, ...(e.chunks ? { chunks: e.chunks } : {}) },
      ]),
    ),
    links: new Map(listing.symlinks.map((l) => [l.path, l.target])),
    dirs: new Set(listing.dirs),
  };
}

/** What changed in a directory since the dataset's latest version (git status for data). */
export async function statusOf(
  deps: DatasetDeps,
  path: string,
  name: string,
  opts: { onProgress?: (bytes: number, total: number) => void } = {},
): Promise<StatusResult> {
  checkDatasetName(name);
  const root = resolve(path);
  if (!existsSync(root))
    throw new CairnError('IO_ERROR', `${path} does not exist`, {
      data: { path },
      hint: 'give the directory that holds (a checkout of) the dataset',
    });
  if (!statSync(root).isDirectory())
    throw new CairnError('USAGE', `${path} is a file; give the directory that holds the dataset`, {
      hint: 'status compares a directory with the dataset’s latest version',
    });
  const ds = await findDataset(deps.meta.db, name);
  const latest = ds ? await latestVersion(deps.meta.db, ds.id) : undefined;
  // The common case, a tree added or checked out as the latest version: its cache is a
  // complete baseline, compared directory by directory: with the native stat batch when it is
  // built (native/statbatch), else in child processes (started first, so their start-up
  // overlaps reading the cache's index).
  const native = latest ? nativeStatBatch() : null;
  const children = latest && !native ? StatChildren.start(deps.pool.size) : null;
  let r: Awaited<ReturnType<typeof statusByFolders>> = null;
  try {
    const folders = latest ? openFolderCache(deps.cacheDir, root, latest.digest) : null;
    r = latest && folders ? await statusByFolders(deps.pool, root, folders, opts.onProgress, children, native) : null;
  } finally {
    await children?.close();
  }
  // Null: the cache turned out damaged; the full walk below re-hashes and rewrites it.
  if (latest && r) {
    if (r.hashed > 0) r.save();
    return {
      dataset: name,
      path: root,
      base: formatRef(name, latest.number),
      added: r.added,
      removed: r.removed,
      modified: r.modified,
      unchanged: r.unchanged,
      clean: r.added.length + r.removed.length + r.modified.length === 0,
      hashed: r.hashed,
    };
  }
  const cache = loadStatCache(deps.cacheDir, root);
  const scan = scanSource(root);
  const base: Baseline = latest
    ? await baselineOf(deps, latest.digest, cache ? baselineFromCache(cache) : null)
    : { digest: '', files: new Map(), links: new Map(), dirs: new Set() };
  const cmp = await compareWithBaseline(deps.pool, root, scan, cache, base, opts.onProgress);
  // Save only what makes the next status cheaper, and never replace a cache that records
  // another version (a checkout of an older version must stay recognizable as such).
  const ours = !cache || !cache.version || cache.version === latest?.digest;
  if (latest && ours && (cmp.hashed > 0 || !cache?.version)) saveStatCache(deps.cacheDir, cmp.cache);
  return {
    dataset: name,
    path: root,
    base: latest ? formatRef(name, latest.number) : null,
    added: cmp.added,
    removed: cmp.removed,
    modified: cmp.modified,
    unchanged: cmp.unchanged,
    clean: cmp.added.length + cmp.removed.length + cmp.modified.length === 0,
    hashed: cmp.hashed,
  };
}
