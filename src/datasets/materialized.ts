import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { removeTree } from '../storage/cache/read-only.js';
import { samePrint, statPrint, type StatPrint } from '../storage/cache/fingerprint.js';
import { materialize } from '../storage/checkout/materialize.js';
import type { Wanted } from '../storage/checkout/plan.js';
import { hashFiles } from '../storage/ingest/hash-files.js';
import { writeFileAtomicSync } from '../storage/objects/durable.js';
import { checkTreeLinks } from '../storage/tree/links.js';
import { listFlat } from '../storage/tree/list.js';
import { fileChunks } from '../storage/tree/node.js';
import type { DatasetDeps } from './deps.js';
import { treeLoader } from './trees.js';
import { assertNotErased } from './erased.js';

/** The marker a complete copy holds; it also records what every file looked like. */
export const COMPLETE_MARKER = '.complete';

interface Marker {
  v: 1;
  root: string;
  files: Record<string, [ino: number, size: number, mtimeMs: number]>;
  links: Record<string, string>;
  dirs: string[];
}

export type CopyState = 'ok' | 'missing' | 'poisoned';

/**
 * A version materialized read-only under `<cache>/versions/<root id>/`, for tools that need
 * real files (DuckDB reads CSV and Parquet by path; jobs read their inputs). Built once per
 * version (every chunk and every file re-hashed on the way, as in checkout), under a temporary
 * name and renamed into place, so a reader never sees a half-written copy; the whole cache can
 * be deleted at any time.
 *
 * Files and directories are read-only, and the copy is checked on every use: a job that
 * appended to an input, or anyone who edited the copy, must not change what the next reader
 * of the same digest gets. The stat of every file is compared with the one recorded when the
 * copy was made; a file whose stat differs is re-hashed, and a copy with a changed, missing or
 * extra entry is removed and built again, never served.
 */
export async function materializedVersion(deps: DatasetDeps, rootId: string): Promise<string> {
  await assertNotErased(deps.meta.db, rootId, `version sha256:${rootId}`);
  const base = join(deps.cacheDir, 'versions');
  const dir = join(base, rootId);
  const state = await checkMaterialized(deps, dir, rootId, { repair: true });
  if (state === 'ok') return dir;
  if (state === 'poisoned') removeTree(dir);
  fs.mkdirSync(base, { recursive: true });
  const tmp = join(base, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(tmp);
  try {
    const listing = await listFlat(rootId, treeLoader(deps));
    checkTreeLinks(listing.symlinks);
    const writes: Array<{ entry: Wanted; replace: boolean }> = [
      ...listing.dirs.map((d) => ({ entry: { path: d, type: 'dir' as const }, replace: false })),
      ...listing.files.map(({ path, entry: e }) => ({
        entry: { path, type: 'file' as const, digest: e.digest, size: e.size, mode: e.mode, chunks: fileChunks(e) },
        replace: false,
      })),
      ...listing.symlinks.map((l) => ({
        entry: { path: l.path, type: 'symlink' as const, target: l.target },
        replace: false,
      })),
    ];
    await materialize(tmp, writes, {
      pool: deps.pool,
      index: deps.index,
      packs: deps.packs,
      fileCacheDir: join(deps.cacheDir, 'files'),
      link: 'copy',
    });
    const marker: Marker = { v: 1, root: rootId, files: {}, links: {}, dirs: [...listing.dirs] };
    for (const { path, entry } of listing.files) {
      const abs = join(tmp, path);
      fs.chmodSync(abs, entry.mode === '755' ? 0o555 : 0o444);
      const p = statPrint(fs.lstatSync(abs));
      marker.files[path] = [p.ino, p.size, p.mtimeMs];
    }
    for (const l of listing.symlinks) marker.links[l.path] = l.target;
    fs.writeFileSync(join(tmp, COMPLETE_MARKER), JSON.stringify(marker), { mode: 0o444 });
    for (const d of [...listing.dirs].reverse()) fs.chmodSync(join(tmp, d), 0o555);
    fs.chmodSync(tmp, 0o555);
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another process finished the same version first: theirs is as good as ours.
      if ((await checkMaterialized(deps, dir, rootId, { repair: true })) !== 'ok') throw err;
      removeTree(tmp);
    }
    return dir;
  } catch (err) {
    removeTree(tmp);
    throw err;
  }
}

/**
 * Whether the copy at `dir` still is the version: every entry the marker lists, nothing else,
 * each file with its recorded stat (or, re-hashed, its digest). With `repair`, files whose
 * bytes are right but whose stat changed (a `touch`, a chmod) get a renewed record and their
 * read-only mode back; without it (fsck), nothing on disk changes.
 */
export async function checkMaterialized(
  deps: DatasetDeps,
  dir: string,
  rootId: string,
  opts: { repair: boolean },
): Promise<CopyState> {
  let marker: Marker;
  try {
    marker = JSON.parse(fs.readFileSync(join(dir, COMPLETE_MARKER), 'utf8')) as Marker;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !fs.existsSync(dir)) return 'missing';
    // A directory without a readable marker: half-built, or made by an older Cairn that did
    // not record stats. Either way it cannot be vouched for.
    return 'poisoned';
  }
  if (!marker || marker.v !== 1 || marker.root !== rootId || typeof marker.files !== 'object') return 'poisoned';
  const found = walkCopy(dir);
  if (!found) return 'poisoned';
  const dirs = new Set(marker.dirs);
  if (found.dirs.length !== dirs.size || found.dirs.some((d) => !dirs.has(d))) return 'poisoned';
  if (found.links.size !== Object.keys(marker.links).length) return 'poisoned';
  for (const [p, t] of found.links) if (marker.links[p] !== t) return 'poisoned';
  if (found.files.size !== Object.keys(marker.files).length) return 'poisoned';
  const changed: Array<{ path: string; st: fs.Stats }> = [];
  for (const [p, st] of found.files) {
    const rec = marker.files[p];
    if (!rec) return 'poisoned';
    const want: StatPrint = { ino: rec[0], size: rec[1], mtimeMs: rec[2] };
    if (!samePrint(want, statPrint(st)) || (st.mode & 0o222) !== 0) changed.push({ path: p, st });
  }
  if (changed.length === 0) return 'ok';
  // Some stats moved: the bytes decide. The tree says what each file must hash to.
  const listing = await listFlat(rootId, treeLoader(deps));
  const entries = new Map(listing.files.map((f) => [f.path, f.entry]));
  const hashed = await hashFiles(
    deps.pool,
    changed.map((c) => ({ abs: join(dir, c.path), size: c.st.size })),
  );
  for (let i = 0; i < changed.length; i++) {
    const e = entries.get(changed[i]!.path);
    if (!e || hashed[i]!.digest !== e.digest || hashed[i]!.size !== e.size) return 'poisoned';
  }
  if (opts.repair) {
    for (const c of changed) {
      const abs = join(dir, c.path);
      fs.chmodSync(abs, entries.get(c.path)!.mode === '755' ? 0o555 : 0o444);
      const p = statPrint(fs.lstatSync(abs));
      marker.files[c.path] = [p.ino, p.size, p.mtimeMs];
    }
    fs.chmodSync(dir, 0o755);
    try {
      writeFileAtomicSync(join(dir, COMPLETE_MARKER), JSON.stringify(marker), { mode: 0o444 });
    } finally {
      fs.chmodSync(dir, 0o555);
    }
  }
  return 'ok';
}

/** Every entry of a copy (lstat; links are not followed), or null if it cannot be read. */
function walkCopy(dir: string): { files: Map<string, fs.Stats>; links: Map<string, string>; dirs: string[] } | null {
  const out = { files: new Map<string, fs.Stats>(), links: new Map<string, string>(), dirs: [] as string[] };
  const visit = (rel: string): boolean => {
    let names: string[];
    try {
      names = fs.readdirSync(rel ? join(dir, rel) : dir);
    } catch {
      return false;
    }
    for (const n of names) {
      if (!rel && n === COMPLETE_MARKER) continue;
      const p = rel ? `${rel}/${n}` : n;
      const st = fs.lstatSync(join(dir, p));
      if (st.isDirectory()) {
        out.dirs.push(p);
        if (!visit(p)) return false;
      } else if (st.isSymbolicLink()) out.links.set(p, fs.readlinkSync(join(dir, p)));
      else if (st.isFile()) out.files.set(p, st);
      else return false;
    }
    return true;
  };
  return visit('') ? out : null;
}
