import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { materialize } from '../storage/checkout/materialize.js';
import type { Wanted } from '../storage/checkout/plan.js';
import { listFlat } from '../storage/tree/list.js';
import { fileChunks } from '../storage/tree/node.js';
import type { DatasetDeps } from './deps.js';
import { treeLoader } from './trees.js';

/**
 * A version materialized read-only under `.cairn/cache/versions/<root id>/`, for tools that
 * need real files (DuckDB reads CSV and Parquet by path). Built once per version (every chunk
 * re-hashed on the way, as in checkout), under a temporary name and renamed into place, so a
 * reader never sees a half-written copy; the whole cache can be deleted at any time.
 */
export async function materializedVersion(deps: DatasetDeps, rootId: string): Promise<string> {
  const base = join(deps.cacheDir, 'versions');
  const dir = join(base, rootId);
  if (fs.existsSync(join(dir, '.complete'))) return dir;
  fs.mkdirSync(base, { recursive: true });
  const tmp = join(base, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  fs.mkdirSync(tmp);
  try {
    const listing = await listFlat(rootId, treeLoader(deps));
    const writes: Array<{ entry: Wanted; replace: boolean }> = [
      ...listing.dirs.map((d) => ({ entry: { path: d, type: 'dir' as const }, replace: false })),
      ...listing.files.map(({ path, entry: e }) => ({ entry: { path, type: 'file' as const, digest: e.digest, size: e.size, mode: e.mode, chunks: fileChunks(e) }, replace: false })),
      ...listing.symlinks.map((l) => ({ entry: { path: l.path, type: 'symlink' as const, target: l.target }, replace: false })),
    ];
    await materialize(tmp, writes, { pool: deps.pool, index: deps.index, packs: deps.packs, fileCacheDir: join(deps.cacheDir, 'files'), link: 'copy' });
    for (const { path } of listing.files) fs.chmodSync(join(tmp, path), 0o444);
    fs.writeFileSync(join(tmp, '.complete'), '');
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      // Another process finished the same version first: theirs is as good as ours.
      if (!fs.existsSync(join(dir, '.complete'))) throw err;
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    return dir;
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
