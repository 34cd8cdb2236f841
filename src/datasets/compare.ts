import { hashFiles } from '../storage/ingest/hash-files.js';
import type { Scan, ScannedFile } from '../storage/ingest/scan.js';
import { cachedEntry, UNTRUSTED_STAT, type StatCacheData, type StatEntry } from '../storage/statcache/stat-cache.js';
import type { FileMode } from '../storage/tree/node.js';
import type { WorkerPool } from '../storage/workers/pool.js';

/** What a version holds, path by path: the thing a working directory is compared with. */
export interface Baseline {
  digest: string;
  files: Map<string, { digest: string; mode: FileMode; size: number; chunks?: string[] }>;
  links: Map<string, string>;
  dirs: Set<string>;
}

export interface Comparison {
  added: string[];
  removed: string[];
  modified: string[];
  unchanged: number;
  hashed: number;
  /** True when files, symlinks and directories all equal the baseline. */
  identical: boolean;
  /** A stat cache tied to the baseline version, refreshed for files found unchanged. */
  cache: StatCacheData;
}

/** A stat cache written by add/checkout is itself the baseline of the version it names. */
export function baselineFromCache(cache: StatCacheData): Baseline | null {
  if (!cache.version) return null;
  // Stat entries carry digest, mode, size and chunks: the map serves as the baseline as is.
  return {
    digest: cache.version,
    files: cache.entries,
    links: new Map(cache.links ?? []),
    dirs: new Set(cache.dirs ?? []),
  };
}

/**
 * Compares a scanned directory with a baseline, reading only files whose stat values the
 * cache cannot vouch for. The returned cache describes the baseline version: entries of
 * unchanged files get fresh stat values, entries of modified files keep the version's digest.
 */
export async function compareWithBaseline(
  pool: WorkerPool,
  root: string,
  scan: Scan,
  cache: StatCacheData | null,
  base: Baseline,
  onProgress?: (bytes: number, total: number) => void,
): Promise<Comparison> {
  const acc = triage(scan, cache, base);
  const { added, modified, entries, misses } = acc;
  const hashed = await hashFiles(pool, misses, undefined, onProgress);
  misses.forEach((f, i) => settleHashed(acc, f, hashed[i]!, base.files.get(f.path)!));
  const unchanged = acc.unchanged;
  const removed: string[] = [];
  if (scan.files.length - added.length !== base.files.size) {
    const present = new Set(scan.files.map((f) => f.path));
    for (const p of base.files.keys()) if (!present.has(p)) removed.push(p);
  }
  // Keep the version's entry for every file not vouched for now, so the cache stays a
  // complete baseline.
  for (const [p, b] of base.files) {
    if (!entries.has(p))
      entries.set(p, {
        ...UNTRUSTED_STAT,
        size: b.size,
        mode: b.mode,
        digest: b.digest,
        ...(b.chunks ? { chunks: b.chunks } : {}),
      });
  }
  const links = new Map(scan.symlinks.map((l) => [l.path, l.target]));
  for (const [p, t] of links) {
    if (!base.links.has(p)) added.push(p);
    else if (base.links.get(p) !== t) modified.push(p);
  }
  for (const p of base.links.keys()) if (!links.has(p)) removed.push(p);
  const dirsSame = scan.dirs.length === base.dirs.size && scan.dirs.every((d) => base.dirs.has(d));
  return {
    added: added.sort(),
    removed: removed.sort(),
    modified: modified.sort(),
    unchanged,
    hashed: misses.length,
    identical: added.length + removed.length + modified.length === 0 && dirsSame,
    cache: {
      v: 2,
      root,
      scannedAtMs: scan.startedAtMs,
      version: base.digest,
      links: [...base.links],
      dirs: [...base.dirs],
      entries,
    },
  };
}

interface Triage {
  added: string[];
  modified: string[];
  unchanged: number;
  entries: Map<string, StatEntry>;
  /** Files the stat cache cannot vouch for: they are hashed. */
  misses: ScannedFile[];
}

/** Sorts scanned files into added, modified (per the cache), unchanged, and those to hash. */
function triage(scan: Scan, cache: StatCacheData | null, base: Baseline): Triage {
  const t: Triage = { added: [], modified: [], unchanged: 0, entries: new Map(), misses: [] };
  for (const f of scan.files) {
    const b = base.files.get(f.path);
    const hit = cachedEntry(cache, f.path, f);
    if (!b) t.added.push(f.path);
    else if (!hit) t.misses.push(f);
    else if (hit.digest === b.digest && f.mode === b.mode) {
      t.unchanged++;
      t.entries.set(f.path, hit);
    } else t.modified.push(f.path);
  }
  return t;
}

type Hashed = Awaited<ReturnType<typeof hashFiles>>[number];
type BaseFile = Baseline['files'] extends Map<string, infer F> ? F : never;

/** A hashed file: unchanged (cached afresh when it did not change while read) or modified. */
function settleHashed(t: Triage, f: ScannedFile, h: Hashed, b: BaseFile): void {
  const same = h.digest === b.digest && f.mode === b.mode;
  if (same && h.stat.size === f.size && h.stat.mtimeMs === f.mtimeMs && h.stat.ino === f.ino) {
    t.unchanged++;
    t.entries.set(f.path, {
      ino: f.ino,
      size: f.size,
      mtimeMs: f.mtimeMs,
      ctimeMs: f.ctimeMs,
      mode: f.mode,
      digest: h.digest,
      ...(b.chunks ? { chunks: b.chunks } : {}),
    });
  } else if (same) t.unchanged++;
  else t.modified.push(f.path);
}
