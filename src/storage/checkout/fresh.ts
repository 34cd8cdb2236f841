import * as fs from 'node:fs';
import { join } from 'node:path';
import { RACY_MS, UNTRUSTED_STAT, type StatEntry } from '../statcache/stat-cache.js';
import { StatCacheWriter } from '../statcache/stream.js';
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
  opts: MaterializeOptions & {
    cacheDir: string;
    meta: Record<string, unknown>;
    onTotal?: (bytes: number) => void;
  },
): Promise<FreshCheckout> {
  const extent = await checkTreeExtent(rootId, load);
  opts.onTotal?.(extent.bytes);
  const links = await linksOf(rootId, load);
  for (const l of links) checkSymlink(l.path, l.target);
  checkTreeLinks(links);

  const cache = new StatCacheWriter(opts.cacheDir, target, Date.now(), opts.meta);
  const out: FreshCheckout = { files: 0, symlinks: 0, bytes: 0, method: 'copy' };
  let writes: Array<{ entry: Wanted; replace: boolean }> = [];
  let folders: FolderRecord[] = [];
  let files = 0;
  const waiting: Array<{ at: number; folders: FolderRecord[] }> = [];
  let lastStat = 0;
  const recordStats = (batch: FolderRecord[]) => {
    const at = Date.now();
    for (const f of batch) {
      const entries: Array<[string, StatEntry]> = f.files.map(({ name, entry: e }) => {
        const s = fs.lstatSync(join(target, f.path, name));
        const recent = s.mtimeMs + RACY_MS >= at || s.ctimeMs + RACY_MS >= at;
        return [
          name,
          {
            ...(recent ? UNTRUSTED_STAT : { ino: s.ino, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs }),
            size: s.size,
            mode: e.mode,
            digest: e.digest,
            ...(e.chunks ? { chunks: e.chunks } : {}),
          },
        ];
      });
      cache.folder(f.path, f.path !== '', entries, f.links, f.dirs);
    }
    lastStat = at;
  };
  const flush = async () => {
    if (folders.length === 0) return;
    if (writes.length > 0) {
      const s = await materialize(target, writes, opts);
      out.files += s.files;
      out.bytes += s.bytes;
      out.method = s.method;
    }
    waiting.push({ at: Date.now(), folders });
    writes = [];
    folders = [];
    files = 0;
    // Stat values are taken once RACY_MS has passed since a batch was written (while later
    // batches are being written), so most entries of a long checkout are trusted.
    while (waiting.length > 0 && Date.now() - waiting[0]!.at > RACY_MS) recordStats(waiting.shift()!.folders);
  };
  try {
    const visit = async (id: string, path: string): Promise<void> => {
      const node = await load(id);
      const rec: FolderRecord = { path, files: [], links: [], dirs: [] };
      if (path !== '') writes.push({ entry: { path, type: 'dir' }, replace: false });
      const subs: Array<{ id: string; path: string }> = [];
      for (const e of node.entries) {
        const p = path ? `${path}/${e.name}` : e.name;
        if (e.type === 'file') {
          rec.files.push({ name: e.name, entry: e });
          const chunks = fileChunks(e);
          writes.push({
            entry: { path: p, type: 'file', digest: e.digest, size: e.size, mode: e.mode, chunks },
            replace: false,
          });
          files++;
        } else if (e.type === 'symlink') rec.links.push([e.name, e.target]);
        else {
          rec.dirs.push(e.name);
          subs.push({ id: e.tree, path: p });
        }
      }
      folders.push(rec);
      if (files >= BATCH_FILES) await flush();
      for (const s of subs) await visit(s.id, s.path);
    };
    await visit(rootId, '');
    await flush();
    for (const w of waiting.splice(0)) recordStats(w.folders);
    // Links last, once every directory they may lead through exists.
    if (links.length > 0) {
      await materialize(
        target,
        links.map((l) => ({ entry: { path: l.path, type: 'symlink' as const, target: l.target }, replace: false })),
        opts,
      );
      out.symlinks = links.length;
    }
    cache.finish(rootId, lastStat);
    cache.save();
    return out;
  } catch (err) {
    cache.discard();
    throw err;
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
