import { isoUtc } from '../core/time.js';
import { allBlobs, listPacks, moveBlobs, recordPacks } from '../meta/repos/chunks.js';
import { fsck, type FsckReport } from '../storage/fsck/fsck.js';
import { repairPlan, type PackCensus } from '../storage/fsck/pack-census.js';
import { acquireExclusive, acquireShared } from '../storage/locks/locks.js';
import { poisonedCaches } from './caches.js';
import type { StoreAdminDeps } from './deps.js';
import { storeRoots } from './roots.js';

export interface FsckOptions {
  onProgress?: (done: number, total: number) => void;
  /**
   * Restore the `blobs` index from the packs' own indexes where live blobs are on disk but not
   * where it places them (`indexDamage`); audited as `store.repair`. Nothing else is changed: a
   * corrupt or missing pack cannot be repaired from this store.
   */
  repair?: boolean;
}

export async function runFsck(deps: StoreAdminDeps, opts: FsckOptions = {}): Promise<FsckReport> {
  // A repair writes the index: no `data add` or gc may be deciding from it meanwhile.
  const lock = opts.repair ? acquireExclusive(deps.locksDir, 'fsck --repair') : acquireShared(deps.locksDir, 'fsck');
  try {
    const first = await check(deps, opts);
    let report = first.report;
    if (opts.repair) {
      const repaired = await repairIndex(deps, first);
      if (repaired) report = { ...(await check(deps, opts)).report, repaired };
    }
    return await deps.audit.audited({ action: 'store.fsck', target: { type: 'store' } }, async (commit, draft) => {
      report.poisonedCaches = await poisonedCaches(deps);
      if (report.poisonedCaches.length > 0) report.ok = false;
      draft.params = {
        packs: report.packsChecked,
        bytes: report.bytesChecked,
        corrupt: report.corruptBlobs.length + report.corruptPacks.length,
        missing: report.missingPacks.length,
        brokenVersions: report.brokenVersions.map((v) => v.ref),
        ...(report.indexDamage.length ? { indexDamage: report.indexDamage.length } : {}),
        ...(report.remoteOnlyVersions.length ? { remoteOnly: report.remoteOnlyVersions.length } : {}),
        ...(report.poisonedCaches.length ? { poisonedCaches: report.poisonedCaches.length } : {}),
      };
      if (report.ok) {
        await commit(async () => {});
      } else {
        // A damaged store is a failed check, recorded as such; the report still goes back.
        const index = report.indexDamage.length
          ? `, ${report.indexDamage.length} live blob(s) not indexed where they are`
          : '';
        await deps.audit.record(
          draft,
          'failed',
          `CHECK_FAILED: ${report.brokenVersions.length} version(s) damaged${index}${report.poisonedCaches.length ? `, ${report.poisonedCaches.length} cache entr(ies) changed on disk` : ''}`,
        );
      }
      return report;
    });
  } finally {
    lock.release();
  }
}

async function check(deps: StoreAdminDeps, opts: FsckOptions): Promise<{ report: FsckReport; census: PackCensus }> {
  const { census, ...report } = await fsck({
    packs: deps.packs,
    pool: deps.pool,
    knownPacks: (await listPacks(deps.meta.db)).map((p) => ({ id: p.id, size: Number(p.size) })),
    blobs: await allBlobs(deps.meta.db),
    versions: await storeRoots(deps.meta.db),
    read: (loc) => deps.reader.read(loc),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  return { report, census };
}

/** Writes the repair `indexDamage` calls for (audited); null when there is none. */
async function repairIndex(
  deps: StoreAdminDeps,
  { report, census }: { report: FsckReport; census: PackCensus },
): Promise<NonNullable<FsckReport['repaired']> | null> {
  if (report.indexDamage.length === 0) return null;
  const known = new Set((await listPacks(deps.meta.db)).map((p) => p.id));
  const plan = repairPlan(report.indexDamage, census, known, await deps.packs.list());
  const repaired = {
    rowsRestored: plan.restore,
    rowsMoved: plan.move.length,
    packsRecorded: plan.record.filter((p) => !known.has(p.id)).length,
  };
  await deps.audit.audited({ action: 'store.repair', target: { type: 'store' } }, async (commit, draft) => {
    draft.params = { ...repaired, packs: plan.record.map((p) => p.id).sort() };
    await commit(async (tx) => {
      await recordPacks(tx, plan.record, isoUtc(deps.clock.now()));
      await moveBlobs(tx, plan.move);
    });
  });
  return repaired;
}
