import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../../core/package-root.js';

/** What the addon answers for one folder (native/statbatch/statbatch.c describes `buf`). */
export interface NativeFolder {
  /** 0: done; 1: the folder could not be opened; 2: not the folder expected; 3: listing failed. */
  status: number;
  err: number;
  /** Entries in `buf`. */
  n: number;
  buf: ArrayBuffer;
}

/** The optional native stat batch (`cairn-statbatch`, built by node-gyp at install). */
export interface StatBatch {
  /**
   * Stats one folder's entries through its directory fd, after checking it is the folder of
   * device `dev` and inode `ino`: its listing (`names` null) or the names `spans` (four int32
   * per entry, [1] where the name starts in `names`, [2] its length) point at.
   */
  statFolder(
    path: string,
    dev: number,
    ino: number,
    names: Buffer | null,
    spans: Int32Array | null,
  ): Promise<NativeFolder>;
}

/** `flags` bit: the name is not plain UTF-8 (or holds a NUL or '/'): the caller stats it the old way. */
export const FLAG_BAD_NAME = 1;
/** `flags` bit: a symlink's target follows in the strings. */
export const FLAG_TARGET = 2;

let loaded: StatBatch | null | undefined;

/**
 * The addon, or null when it is switched off (`CAIRN_NATIVE=0`), not built (no toolchain at
 * install) or does not load: `status` then compares in its stat children, with the same answer.
 * Tried as the installed optional dependency first, then in this package's own
 * `native/statbatch` folder (a checkout). Silent unless `CAIRN_DEBUG` is set.
 */
export function nativeStatBatch(): StatBatch | null {
  if (process.env.CAIRN_NATIVE === '0') return null;
  if (loaded !== undefined) return loaded;
  loaded = null;
  const load = createRequire(import.meta.url);
  const why: string[] = [];
  for (const id of [
    'cairn-statbatch',
    join(packageRoot(), 'native', 'statbatch', 'build', 'Release', 'statbatch.node'),
  ]) {
    try {
      const m = load(id) as Partial<StatBatch>;
      if (typeof m.statFolder === 'function') return (loaded = m as StatBatch);
      why.push(`${id}: no statFolder`);
    } catch (err) {
      why.push(`${id}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (process.env.CAIRN_DEBUG)
    process.stderr.write(`cairn: native stat batch not loaded, status uses stat children (${why.join('; ')})\n`);
  return null;
}
