// Store administration for a workspace: fsck and gc over the object store (storage/fsck and
// storage/gc hold the pure checks and the plan; this folder gathers the roots, locks the store,
// audits, and checks the caches). Nothing outside imports its other files (lint: layers/imports).
import type { FsckReport } from '../storage/fsck/fsck.js';
import type { StoreAdminDeps } from './deps.js';
import { runFsck, type FsckOptions } from './fsck.js';
import { runGc, type GcResult } from './gc.js';

export type { FsckOptions, FsckReport, GcResult, StoreAdminDeps };
export { describeDamage } from '../storage/fsck/pack-census.js';

/** What `cairn fsck` and `cairn gc` (and a team server's admin) can ask of the store. */
export interface AdminService {
  /**
   * Re-hashes every stored object and checks the caches; `ok` is false when anything is damaged.
   * With `repair`, first restores the blob index from the packs' own indexes (`indexDamage`).
   */
  fsck(opts?: FsckOptions): Promise<FsckReport>;
  /**
   * Deletes what nothing references (with `dryRun`, only says what it would delete). With
   * `purge`, every pack holding an unreachable blob is rewritten, so no such byte stays on disk.
   */
  gc(opts?: { dryRun?: boolean; purge?: boolean }): Promise<GcResult>;
}

export function createAdminService(deps: StoreAdminDeps): AdminService {
  return {
    fsck: (opts) => runFsck(deps, opts),
    gc: (opts) => runGc(deps, opts),
  };
}
