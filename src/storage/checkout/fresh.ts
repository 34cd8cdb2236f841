import * as fs from 'node:fs';
import { join } from 'node:path';
import { RACY_MS, UNTRUSTED_STAT, type StatEntry } from '../statcache/stat-cache.js';
import { StatCacheWriter } from '../statcache/stream.js';
import { UNKNOWN_DIR } from '../statcache/binary.js';
import { checkTreeExtent } from '../tree/extent.js';
import { checkTreeLinks } from '../tree/links.js';
import { checkSymlink, fileChunks, type FileEntry } from '../tree/node.js';
import type { TreeLoader } from '../tree/walk.js';
import { materialize, type MaterializeOptions, type MaterializeStats } from './materialize.js';
import type { Wanted } from './plan.js';

/** Files materialized per call: large enough to keep the workers busy, small enough to bound memory. */
const BATCH_FILES = 8192;

export interface FreshCheckout {
  files: number;
  symlinks: number;
  bytes: number;
  method: MaterializeStats['method'];
}

interface FolderRecord {
  path: string;
  files: Array<{ name: string; entry: FileEntry }>;
  links: Array<[string, string]>;
  dirs: string[];
}

/**
 * Checks a version out into an empty directory folder by folder, depth-first: nothing is there
 * to compare with, remove or protect, so no listing of the whole version is made (issue 16).
 * Memory holds one batch of folders being written, the version's symlinks and the records whose
 * stat values are not yet taken. The version is refused before the disk is touched when it
 * expands out of proportion (extent.ts) or a link leaves it (links.ts); files are written as
 * `materialize` writes them (a temporary name, checked whole, then renamed).
 *
 * The stat cache for the directory is written record by record; a file's stat values are taken
 * RACY_MS after it was written where the checkout lasts that long, and an entry whose file
 * changed within RACY_MS of its stat is stored untrusted (its digest kept, its stat never
 * matching), so the header's single scan time vouches for no entry it should not.
 */
export async function checkoutFresh(
  target: string,
  rootId: string,
  load: TreeLoader,
  opts: FreshOptions,
): Promise<FreshCheckout> {
  const extent = await checkTreeExtent(rootId, load);
  opts.onTotal?.(extent.bytes);
  const links = await linksOf(rootId, load);
  for (const l of links) checkSymlink(l.path, l.target);
  checkTreeLinks(links);

  const cache = new StatCacheWriter(opts.cacheDir, target, Date.now(), opts.meta);
  const run = new FreshRun(target, load, opts, cache);
  try {
    await run.visit(rootId, '');
    await run.flush();
    run.recordWaiting(true);
    // Links last, once every directory they may lead through exists.
    if (links.length > 0) {
      await materialize(
        target,
        links.map((l) => ({ entry: { path: l.path, type: 'symlink' as const, target: l.target }, replace: false })),
        opts,
      );
      run.out.symlinks = links.length;
    }
    cache.finish(rootId, run.lastStat);
    cache.save();
    return run.out;
  } catch (err) {
    cache.discard();
    throw err;
  }
}

export type FreshOptions = MaterializeOptions & {
  cacheDir: string;
  meta: Record<string, unknown>;
  onTotal?: (bytes: number) => void;
};

/** The batch being gathered, and the written folders whose stat values are not yet taken. */
class FreshRun {
  readonly out: FreshCheckout = { files: 0, symlinks: 0, bytes: 0, method: 'copy' };
  lastStat = 0;
  #writes: Array<{ entry: Wanted; replace: boolean }> = [];
  #folders: FolderRecord[] = [];
  #files = 0;
  readonly #waiting: Array<{ at: number; folders: FolderRecord[] }> = [];

  constructor(
    readonly target: string,
    readonly load: TreeLoader,
    readonly opts: FreshOptions,
    readonly cache: StatCacheWriter,
  ) {}

  /** Gathers one folder into the batch (written when full), then its subfolders in order. */
  async visit(id: string, path: string): Promise<void> {
    const node = await this.load(id);
    const rec: FolderRecord = { path, files: [], links: [], dirs: [] };
    if (path !== '') this.#writes.push({ entry: { path, type: 'dir' }, replace: false });
    const subs: Array<{ id: string; path: string }> = [];
    for (const e of node.entries) {
      const p = path ? `${path}/${e.name}` : e.name;
      if (e.type === 'file') {
        rec.files.push({ name: e.name, entry: e });
        const entry = { path: p, type: 'file' as const, digest: e.digest, size: e.size, mode: e.mode };
        this.#writes.push({ entry: { ...entry, chunks: fileChunks(e) }, replace: false });
        this.#files++;
      } else if (e.type === 'symlink') rec.links.push([e.name, e.target]);
      else {
        rec.dirs.push(e.name);
        subs.push({ id: e.tree, path: p });
      }
    }
    this.#folders.push(rec);
    if (this.#files >= BATCH_FILES) await this.flush();
    for (const s of subs) await this.visit(s.id, s.path);
  }

  async flush(): Promise<void> {
    if (this.#folders.length === 0) return;
    if (this.#writes.length > 0) {
      const s = await materialize(this.target, this.#writes, this.opts);
      this.out.files += s.files;
      this.out.bytes += s.bytes;
      this.out.method = s.method;
    }
    this.#waiting.push({ at: Date.now(), folders: this.#folders });
    this.#writes = [];
    this.#folders = [];
    this.#files = 0;
    this.recordWaiting(false);
  }

  /**
   * Stat values are taken once RACY_MS has passed since a batch was written (while later
   * batches are being written), so most entries of a long checkout are trusted; `all` at the end.
   */
  recordWaiting(all: boolean): void {
    while (this.#waiting.length > 0 && (all || Date.now() - this.#waiting[0]!.at > RACY_MS))
      this.#record(this.#waiting.shift()!.folders);
  }

  #record(batch: FolderRecord[]): void {
    const at = Date.now();
    for (const f of batch) {
      const entries: Array<[string, StatEntry]> = f.files.map(({ name, entry: e }) => {
        const s = fs.lstatSync(join(this.target, f.path, name));
        const recent = s.mtimeMs + RACY_MS >= at || s.ctimeMs + RACY_MS >= at;
        const stat = recent ? UNTRUSTED_STAT : { ino: s.ino, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs };
        return [
          name,
          { ...stat, size: s.size, mode: e.mode, digest: e.digest, ...(e.chunks ? { chunks: e.chunks } : {}) },
        ];
      });
      // The directory's stat is left unknown: links are created after the records are written,
      // so a stat taken now would not describe the final listing (status lists these folders).
      this.cache.folder(f.path, f.path !== '', UNKNOWN_DIR, entries, f.links, f.dirs);
    }
    this.lastStat = at;
  }
}

/** Every symlink of the version with its full path (nodes loaded one at a time). */
async function linksOf(rootId: string, load: TreeLoader): Promise<Array<{ path: string; target: string }>> {
  const out: Array<{ path: string; target: string }> = [];
  const visit = async (id: string, path: string): Promise<void> => {
    const node = await load(id);
    const subs: Array<{ id: string; path: string }> = [];
    for (const e of node.entries) {
      const p = path ? `${path}/${e.name}` : e.name;
      if (e.type === 'symlink') out.push({ path: p, target: e.target });
      else if (e.type === 'dir') subs.push({ id: e.tree, path: p });
    }
    for (const s of subs) await visit(s.id, s.path);
  };
  await visit(rootId, '');
  return out;
}
