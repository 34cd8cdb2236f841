import * as fs from 'node:fs';
import { join } from 'node:path';
import { checkTableEntry } from '../dataprep/index.js';
import { checkMaterialized } from '../datasets/index.js';
import { inspectFileCacheEntry } from '../storage/cache/file-cache.js';
import { hashFiles } from '../storage/ingest/hash-files.js';
import type { StoreAdminDeps } from './deps.js';

/**
 * Cache entries whose files changed since they were made (paths relative to the cache
 * directory): file-cache entries that hardlinked checkouts share, materialized versions that
 * jobs and DuckDB read, typed tables. Nothing is changed here; the next use (or `gc`) removes
 * and rebuilds them, and they are never served meanwhile.
 */
export async function poisonedCaches(deps: StoreAdminDeps): Promise<string[]> {
  const out: string[] = [];
  const hash = async (path: string) =>
    (await hashFiles(deps.pool, [{ abs: path, size: fs.statSync(path).size }]))[0]!.digest;
  const filesDir = join(deps.cacheDir, 'files');
  for (const shard of list(filesDir)) {
    if (!/^[0-9a-f]{2}$/.test(shard)) continue;
    for (const name of list(join(filesDir, shard))) {
      if (name.endsWith('.print') || name.includes('.tmp-')) continue;
      if ((await inspectFileCacheEntry(join(filesDir, shard, name), hash)) !== 'ok') out.push(`files/${shard}/${name}`);
    }
  }
  const versions = join(deps.cacheDir, 'versions');
  for (const name of list(versions)) {
    if (!/^[0-9a-f]{64}$/.test(name)) continue;
    if ((await checkMaterialized(deps, join(versions, name), name, { repair: false })) !== 'ok')
      out.push(`versions/${name}`);
  }
  const tables = join(deps.cacheDir, 'tables');
  for (const name of list(tables)) {
    if (!name.endsWith('.duckdb') || name.startsWith('.tmp-')) continue;
    if (checkTableEntry(join(tables, name), { repair: false }) !== 'ok') out.push(`tables/${name}`);
  }
  return out.sort();
}

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}
