import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import type { DatasetDeps } from '../datasets/deps.js';
import { materializedVersion } from '../datasets/materialized.js';

/** A lock older than this is taken to belong to a crashed process. */
const STALE_MS = 30 * 60 * 1000;

/** The shared cache folder: `--cache`, else CAIRN_CACHE, else none. */
export function sharedCacheDir(flag: string | undefined, env: NodeJS.ProcessEnv): string | null {
  const d = flag ?? env.CAIRN_CACHE;
  return d ? resolve(d) : null;
}

/**
 * Materializes a version read-only under `<cache>/versions/<root digest>/` in a directory many
 * jobs (and nodes, on a shared filesystem) use: whoever comes first builds it under a lock
 * file, the others wait for it and then use the same copy, so the data is read from the store
 * once however many jobs need it. The copy is complete when its `.complete` marker exists.
 */
export async function materializeShared(deps: DatasetDeps, rootId: string, cache: string, opts: { pollMs?: number; timeoutMs?: number } = {}): Promise<string> {
  const dir = join(cache, 'versions', rootId);
  if (existsSync(join(dir, '.complete'))) return dir;
  mkdirSync(join(cache, 'locks'), { recursive: true });
  const lockPath = join(cache, 'locks', `${rootId}.lock`);
  const deadline = Date.now() + (opts.timeoutMs ?? 6 * 60 * 60 * 1000);
  for (;;) {
    let fd: number | null = null;
    try {
      fd = openSync(lockPath, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new CairnError('IO_ERROR', `cannot create ${lockPath}: ${(err as Error).message}`);
    }
    if (fd !== null) {
      try {
        writeSync(fd, `${process.pid}@${hostname()}\n`);
        closeSync(fd);
        if (existsSync(join(dir, '.complete'))) return dir;
        return await materializedVersion({ ...deps, cacheDir: cache }, rootId);
      } finally {
        rmSync(lockPath, { force: true });
      }
    }
    if (existsSync(join(dir, '.complete'))) return dir;
    try {
      if (Date.now() - statSync(lockPath).mtimeMs > STALE_MS) {
        process.stderr.write(`cairn: removing a stale cache lock ${lockPath} (${readFileSync(lockPath, 'utf8').trim()})\n`);
        rmSync(lockPath, { force: true });
        continue;
      }
    } catch {
      continue;
    }
    if (Date.now() > deadline) throw new CairnError('LOCKED', `timed out waiting for another process to materialize ${rootId} in ${cache}`, { data: { lock: lockPath } });
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}
