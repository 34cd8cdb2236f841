import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../objects/durable.js';
import { decodeStatCache, encodeStatCache } from './binary.js';

/**
 * What we knew about each file the last time we hashed it: (inode, size, mtime, ctime) →
 * digest and chunk list. A file whose four stat values are unchanged is not read again.
 * Entries whose mtime or ctime falls within RACY_MS of the scan are never trusted (a write in
 * the same clock tick as our read would otherwise go unnoticed), git's rule for its index.
 * Times are the float milliseconds Node reports (sub-microsecond resolution), compared
 * exactly; they avoid BigInt allocations, which dominated status of large trees.
 */
export const RACY_MS = 2000;

export interface StatEntry {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  mode: '644' | '755';
  digest: string;
  /** Omitted for single-chunk and empty files. */
  chunks?: string[];
}

export interface StatCacheData {
  v: 2;
  root: string;
  /** Wall clock (ms) when the scan that produced the entries started. */
  scannedAtMs: number;
  /**
   * Root digest of the version whose files the entries describe exactly (one entry per file
   * of it), written by `add` and `checkout`. Such a cache is a complete baseline: status can
   * answer without reading the version's trees, the way git answers from its index.
   */
  version?: string;
  /** The version's symlinks and directories, completing the baseline. */
  links?: Array<[path: string, target: string]>;
  dirs?: string[];
  /** Context the cache was written for, e.g. the dataset version a checkout materialized. */
  meta?: Record<string, unknown>;
  entries: Map<string, StatEntry>;
}

/** What saving needs of the entries: a Map serves, and so does a view that makes each on demand. */
export interface StatEntries {
  readonly size: number;
  keys(): Iterable<string>;
  get(path: string): StatEntry | undefined;
}

export type StatCacheToSave = Omit<StatCacheData, 'entries'> & { entries: StatEntries };

/** Stat values no file can have: the entry keeps a digest but always counts as changed. */
export const UNTRUSTED_STAT = { ino: -1, mtimeMs: -1, ctimeMs: -1 } as const;

/** On disk each entry is a flat array, which parses several times faster than objects. */
type Row = [
  path: string,
  ino: number,
  size: number,
  mtimeMs: number,
  ctimeMs: number,
  exec: 0 | 1,
  digest: string,
  chunks?: string[],
];

/** Where the cache of a directory lives (format 3, binary: ./binary.ts). */
export function statCachePath(cacheDir: string, root: string): string {
  return join(cacheDir, 'stat', `${statCacheKey(root)}.bin`);
}

/** Where format 2 (JSON) kept it: still read, so an upgrade costs no re-hash. */
export function legacyStatCachePath(cacheDir: string, root: string): string {
  return join(cacheDir, 'stat', `${statCacheKey(root)}.json`);
}

function statCacheKey(root: string): string {
  return createHash('sha256').update(root).digest('hex').slice(0, 32);
}

export function loadStatCache(cacheDir: string, root: string): StatCacheData | null {
  let bytes: Buffer | null = null;
  try {
    bytes = readFileSync(statCachePath(cacheDir, root));
  } catch {
    return loadLegacyStatCache(cacheDir, root);
  }
  try {
    const data = decodeStatCache(bytes);
    return data.root === root ? data : null;
  } catch {
    // A damaged cache only costs a re-hash.
    return null;
  }
}

function loadLegacyStatCache(cacheDir: string, root: string): StatCacheData | null {
  try {
    const raw = JSON.parse(readFileSync(legacyStatCachePath(cacheDir, root), 'utf8')) as {
      v: number;
      root: string;
      scannedAtMs: number;
      version?: string;
      links?: Array<[string, string]>;
      dirs?: string[];
      meta?: Record<string, unknown>;
      rows: Row[];
    };
    if (raw.v !== 2 || raw.root !== root || !Array.isArray(raw.rows)) return null;
    const entries = new Map<string, StatEntry>();
    for (const r of raw.rows) {
      const e: StatEntry = {
        ino: r[1],
        size: r[2],
        mtimeMs: r[3],
        ctimeMs: r[4],
        mode: r[5] ? '755' : '644',
        digest: r[6],
      };
      if (r[7]) e.chunks = r[7];
      entries.set(r[0], e);
    }
    return {
      v: 2,
      root,
      scannedAtMs: raw.scannedAtMs,
      ...(raw.version ? { version: raw.version, links: raw.links ?? [], dirs: raw.dirs ?? [] } : {}),
      ...(raw.meta ? { meta: raw.meta } : {}),
      entries,
    };
  } catch {
    // A missing or damaged cache only costs a re-hash.
    return null;
  }
}

/** Writes the cache a directory record at a time (never held whole), replacing a format-2 one. */
export function saveStatCache(cacheDir: string, data: StatCacheToSave): void {
  writeFileAtomicSync(statCachePath(cacheDir, data.root), encodeStatCache(data));
  rmSync(legacyStatCachePath(cacheDir, data.root), { force: true });
}

/** Format 2's JSON text in pieces (rows batched): what older versions wrote, kept for tests of reading it. */
export function* statCacheJson(data: StatCacheData): Generator<string> {
  const head = JSON.stringify({
    v: 2,
    root: data.root,
    scannedAtMs: data.scannedAtMs,
    ...(data.version ? { version: data.version, links: data.links ?? [], dirs: data.dirs ?? [] } : {}),
    ...(data.meta ? { meta: data.meta } : {}),
    rows: [],
  });
  // `head` ends in `"rows":[]}`: the rows go between the brackets.
  yield head.slice(0, -2);
  let batch: Row[] = [];
  let first = true;
  const flush = function* () {
    if (batch.length === 0) return;
    const text = JSON.stringify(batch);
    yield `${first ? '' : ','}${text.slice(1, -1)}`;
    first = false;
    batch = [];
  };
  for (const [p, e] of data.entries) {
    const row: Row = [p, e.ino, e.size, e.mtimeMs, e.ctimeMs, e.mode === '755' ? 1 : 0, e.digest];
    if (e.chunks) row.push(e.chunks);
    batch.push(row);
    if (batch.length >= SAVE_BATCH) yield* flush();
  }
  yield* flush();
  yield ']}';
}

const SAVE_BATCH = 4096;

export interface StatNow {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** The cached entry if the file provably has not changed since it was hashed. */
export function cachedEntry(cache: StatCacheData | null, path: string, now: StatNow): StatEntry | null {
  const e = cache?.entries.get(path);
  if (!e) return null;
  if (e.ino !== now.ino || e.size !== now.size || e.mtimeMs !== now.mtimeMs || e.ctimeMs !== now.ctimeMs) return null;
  if (racy(e, cache!.scannedAtMs)) return null;
  return e;
}

/**
 * Whether an entry's stat values were taken too close to its file's last change to vouch for
 * it. ctime counts too: tools that restore an old mtime (tar, cp -p, rsync -a) leave only
 * ctime recent, and a second write in that clock tick would change neither.
 */
export function racy(e: { mtimeMs: number; ctimeMs: number }, scannedAtMs: number): boolean {
  return e.mtimeMs + RACY_MS >= scannedAtMs || e.ctimeMs + RACY_MS >= scannedAtMs;
}

export function nowMs(): number {
  return Date.now();
}
