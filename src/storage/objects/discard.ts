import { promises as fsp } from 'node:fs';
import type { BlobIndex } from '../blob-index.js';
import { tryExclusiveFromShared } from '../locks/locks.js';
import type { FinishedPack } from '../pack/writer.js';
import type { LocalPackDir } from './local-packs.js';

/**
 * Removes packs a writer sealed but will not record (its operation failed or turned out to
 * add nothing) — only when that is certainly safe. A pack is named by its content, so the same
 * name may hold live data: another writer may have sealed the same blobs in the same order, or
 * adopted this very pack as an orphan, and be about to commit it. So:
 *
 * - nothing is removed unless this process gets the store's exclusive lock at once (no other
 *   writer active; with `exclusive`, the caller, gc, holds it already);
 * - under it, a pack that metadata records, or that holds a blob the index places in it, stays.
 *
 * Whatever stays is an orphan: the next add adopts it, `gc` removes it.
 */
export function discardSealed(
  packs: readonly FinishedPack[],
  deps: { packs: LocalPackDir; index: BlobIndex },
  opts: { exclusive?: boolean } = {},
): Promise<void> {
  // One at a time in this process: two at once would each find the other's exclusive lock.
  const run = queue.then(() => discardNow(packs, deps, opts));
  queue = run.catch(() => {});
  return run;
}

let queue: Promise<void> = Promise.resolve();

async function discardNow(
  packs: readonly FinishedPack[],
  deps: { packs: LocalPackDir; index: BlobIndex },
  opts: { exclusive?: boolean },
): Promise<void> {
  if (packs.length === 0 || !deps.index.knownPacks) return;
  const lock = opts.exclusive ? null : tryExclusiveFromShared(deps.packs.locksDir, 'discard');
  if (!opts.exclusive && !lock) return;
  try {
    const known = await deps.index.knownPacks(packs.map((p) => p.id));
    const locs = await deps.index.locate([...new Set(packs.flatMap((p) => p.entries.map((e) => e.id)))]);
    for (const p of packs) {
      if (known.has(p.id) || p.entries.some((e) => locs.get(e.id)?.packId === p.id)) continue;
      await fsp.rm(deps.packs.packPath(p.id), { force: true });
    }
  } finally {
    lock?.release();
  }
}
