import { allBlobs, listPacks } from '../meta/repos/chunks.js';
import { treeLoader } from '../datasets/index.js';
import { fsck, type FsckReport } from '../storage/fsck/fsck.js';
import { acquireShared } from '../storage/locks/locks.js';
import { poisonedCaches } from './caches.js';
import type { StoreAdminDeps } from './deps.js';
import { storeRoots } from './roots.js';

export async function runFsck(
  deps: StoreAdminDeps,
  opts: { onProgress?: (done: number, total: number) => void } = {},
): Promise<FsckReport> {
  const lock = acquireShared(deps.locksDir, 'fsck');
  try {
    return await deps.audit.audited({ action: 'store.fsck', target: { type: 'store' } }, async (commit, draft) => {
      const report = await fsck({
        packs: deps.packs,
        pool: deps.pool,
        knownPacks: (await listPacks(deps.meta.db)).map((p) => ({ id: p.id, size: Number(p.size) })),
        blobs: await allBlobs(deps.meta.db),
        versions: await storeRoots(deps.meta.db),
        load: treeLoader(deps),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      report.poisonedCaches = await poisonedCaches(deps);
      if (report.poisonedCaches.length > 0) report.ok = false;
      draft.params = {
        packs: report.packsChecked,
        bytes: report.bytesChecked,
        corrupt: report.corruptBlobs.length + report.corruptPacks.length,
        missing: report.missingPacks.length,
        brokenVersions: report.brokenVersions.map((v) => v.ref),
        ...(report.remoteOnlyVersions.length ? { remoteOnly: report.remoteOnlyVersions.length } : {}),
        ...(report.poisonedCaches.length ? { poisonedCaches: report.poisonedCaches.length } : {}),
      };
      if (report.ok) {
        await commit(async () => {});
      } else {
        // A damaged store is a failed check, recorded as such; the report still goes back.
        await deps.audit.record(
          draft,
          'failed',
          `CHECK_FAILED: ${report.brokenVersions.length} version(s) damaged${report.poisonedCaches.length ? `, ${report.poisonedCaches.length} cache entr(ies) changed on disk` : ''}`,
        );
      }
      return report;
    });
  } finally {
    lock.release();
  }
}
