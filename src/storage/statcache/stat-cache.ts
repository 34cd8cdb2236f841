import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../objects/durable.js';

/**
 * What we knew about each file the last time we hashed it: (inode, size, mtime ns, ctime ns)
 * → digest and chunk list. A file whose four stat values are unchanged is not read again.
 * Entries whose mtime falls within RACY_NS of the scan are never trusted (a write in the same
 * clock tick as our read would otherwise go unnoticed), the same rule git uses for its index.
 */
export const RACY_NS = 2_000_000_000n;

export interface StatEntry {
  ino: string;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  mode: '644' | '755';
  digest: string;
  /** Omitted for single-chunk and empty files. */
  chunks?: string[];
}

export interface StatCacheData {
  v: 1;
  root: string;
  /** Wall clock (ns) when the scan that produced the entries started. */
  scannedAtNs: string;
  /** Context the cache was written for, e.g. the dataset version a checkout materialized. */
  meta?: Record<string, unknown>;
  entries: Record<string, StatEntry>;
}

export function statCachePath(cacheDir: string, root: string): string {
  const key = createHash('sha256').update(root).digest('hex').slice(0, 32);
  return join(cacheDir, 'stat', `${key}.json`);
}

export function loadStatCache(cacheDir: string, root: string): StatCacheData | null {
  try {
    const data = JSON.parse(readFileSync(statCachePath(cacheDir, root), 'utf8')) as StatCacheData;
    return data.v === 1 && data.root === root && data.entries ? data : null;
  } catch {
    // A missing or damaged cache only costs a re-hash.
    return null;
  }
}

export function saveStatCache(cacheDir: string, data: StatCacheData): void {
  writeFileAtomicSync(statCachePath(cacheDir, data.root), JSON.stringify(data));
}

export interface StatNow {
  ino: string;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
}

/** The cached entry if the file provably has not changed since it was hashed. */
export function cachedEntry(cache: StatCacheData | null, path: string, now: StatNow): StatEntry | null {
  const e = cache?.entries[path];
  if (!e) return null;
  if (e.ino !== now.ino || e.size !== now.size || e.mtimeNs !== now.mtimeNs || e.ctimeNs !== now.ctimeNs) return null;
  if (BigInt(e.mtimeNs) + RACY_NS >= BigInt(cache!.scannedAtNs)) return null;
  return e;
}

export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}
