import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import type { DatasetDeps } from './deps.js';
import { materializedVersion } from './materialized.js';
import { treeLoader } from './trees.js';
import { listFlat } from '../storage/tree/list.js';
import { discardEntry, makeReadOnly, matchesListing, readSeal, statFingerprint, writeSeal } from './cache-seal.js';
import { assertNotErased } from './erased.js';

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
 *
 * A copy is never served once it differs from its version: when it is complete its files
 * become 0444 and its folders 0555, and its stat fingerprint is sealed in
 * `<cache>/seals/<root digest>.json` (outside what jobs see). Every use compares the
 * fingerprint first (one stat per entry); on a difference the files are re-hashed against the
 * version — an intact copy (only touched) is sealed again and served, a changed one (a job
 * appended to an input, added or removed a file) is discarded and rebuilt from the store.
 */
export async function materializeShared(
  deps: DatasetDeps,
  rootId: string,
  cache: string,
  opts: { pollMs?: number; timeoutMs?: number } = {},
): Promise<string> {
  await assertNotErased(deps.meta.db, rootId, `version sha256:${rootId}`);
  const dir = join(cache, 'versions', rootId);
  const sealPath = join(cache, 'seals', `${rootId}.json`);
  if (existsSync(join(dir, '.complete')) && isSealed(dir, sealPath)) return dir;
  mkdirSync(join(cache, 'locks'), { recursive: true });
  mkdirSync(join(cache, 'seals'), { recursive: true });
  const lockPath = join(cache, 'locks', `${rootId}.lock`);
  const deadline = Date.now() + (opts.timeoutMs ?? 6 * 60 * 60 * 1000);
  for (;;) {
    let fd: number | null = null;
    try {
      fd = openSync(lockPath, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new CairnError('IO_ERROR', `cannot create ${lockPath}: ${(err as Error).message}`);
    }
    if (fd !== null) {
      try {
        writeSync(fd, `${process.pid}@${hostname()}\n`);
        closeSync(fd);
        return await buildOrCheck(deps, rootId, dir, sealPath);
      } finally {
        rmSync(lockPath, { force: true });
      }
    }
    if (existsSync(join(dir, '.complete')) && isSealed(dir, sealPath)) return dir;
    try {
      if (Date.now() - statSync(lockPath).mtimeMs > STALE_MS) {
        process.stderr.write(
          `cairn: removing a stale cache lock ${lockPath} (${readFileSync(lockPath, 'utf8').trim()})\n`,
        );
        rmSync(lockPath, { force: true });
        continue;
      }
    } catch {
      continue;
    }
    if (Date.now() > deadline)
      throw new CairnError('LOCKED', `timed out waiting for another process to materialize ${rootId} in ${cache}`, {
        data: { lock: lockPath },
      });
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}

/** The copy's stat fingerprint is the one sealed when it was made read-only. */
function isSealed(dir: string, sealPath: string): boolean {
  const seal = readSeal(sealPath);
  if (!seal) return false;
  try {
    return statFingerprint(dir) === seal.fingerprint;
  } catch {
    return false;
  }
}

/**
 * Under the lock: a complete copy whose fingerprint differs is re-hashed against its version
 * and sealed again if intact; anything else (incomplete, changed, unreadable) is discarded and
 * built again, made read-only, and sealed.
 */
async function buildOrCheck(deps: DatasetDeps, rootId: string, dir: string, sealPath: string): Promise<string> {
  if (existsSync(join(dir, '.complete')) && isSealed(dir, sealPath)) return dir;
  const listing = await listFlat(rootId, treeLoader(deps));
  if (existsSync(join(dir, '.complete'))) {
    let intact = false;
    try {
      intact = matchesListing(dir, listing);
    } catch {
      intact = false;
    }
    if (intact) {
      makeReadOnly(dir, listing);
      writeSeal(sealPath, dir, deps.clock.now());
      return dir;
    }
    process.stderr.write(
      `cairn: the cached copy of ${rootId} in ${dir} no longer matches its version (a job wrote to its input?): rebuilding it from the store\n`,
    );
  }
  rmSync(sealPath, { force: true });
  discardEntry(dir);
  const built = await materializedVersion({ ...deps, cacheDir: dirname(dirname(dir)) }, rootId);
  makeReadOnly(built, listing);
  writeSeal(sealPath, built, deps.clock.now());
  return built;
}
