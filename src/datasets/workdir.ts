import { CairnError } from '../core/errors.js';
import { hashFiles } from '../storage/ingest/hash-files.js';
import { scanSource } from '../storage/ingest/scan.js';
import { cachedEntry, nowMs, type StatCacheData, type StatEntry } from '../storage/statcache/stat-cache.js';
import type { FileMode } from '../storage/tree/node.js';
import type { WorkerPool } from '../storage/workers/pool.js';

export type WorkEntry =
  | { type: 'file'; digest: string; size: number; mode: FileMode }
  | { type: 'symlink'; target: string }
  | { type: 'dir' };

export interface WorkState {
  entries: Map<string, WorkEntry>;
  /** Refreshed stat cache (the caller decides whether to save it). */
  cache: StatCacheData;
  hashed: number;
}

/**
 * What a directory holds now, by path, hashing only the files the stat cache cannot vouch for.
 */
export async function workingState(pool: WorkerPool, root: string, cache: StatCacheData | null): Promise<WorkState> {
  const started = nowMs();
  const scan = scanSource(root);
  if (scan.files.length === 1 && scan.files[0]!.abs === root) {
    throw new CairnError('USAGE', `${root} is a file; give the directory that holds the dataset`);
  }
  const entries = new Map<string, WorkEntry>();
  const fresh = new Map<string, StatEntry>();
  const misses = [];
  for (const f of scan.files) {
    const hit = cachedEntry(cache, f.path, f);
    if (hit) {
      entries.set(f.path, { type: 'file', digest: hit.digest, size: f.size, mode: f.mode });
      fresh.set(f.path, { ...hit, mode: f.mode });
    } else {
      misses.push(f);
    }
  }
  const hashed = await hashFiles(pool, misses);
  misses.forEach((f, i) => {
    const h = hashed[i]!;
    entries.set(f.path, { type: 'file', digest: h.digest, size: h.size, mode: f.mode });
    if (h.stat.size === f.size && h.stat.mtimeMs === f.mtimeMs && h.stat.ino === f.ino) {
      fresh.set(f.path, {
        ino: f.ino,
        size: f.size,
        mtimeMs: f.mtimeMs,
        ctimeMs: f.ctimeMs,
        mode: f.mode,
        digest: h.digest,
        ...(h.chunks.length > 1 || (h.chunks.length === 1 && h.chunks[0] !== h.digest) ? { chunks: h.chunks } : {}),
      });
    }
  });
  for (const s of scan.symlinks) entries.set(s.path, { type: 'symlink', target: s.target });
  for (const d of scan.dirs) entries.set(d, { type: 'dir' });
  return {
    entries,
    cache: { v: 2, root, scannedAtMs: started, ...(cache?.meta ? { meta: cache.meta } : {}), entries: fresh },
    hashed: misses.length,
  };
}
