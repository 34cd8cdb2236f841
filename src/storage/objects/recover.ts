import { promises as fsp } from 'node:fs';
import { processAlive } from '../locks/locks.js';
import type { WorkerPool } from '../workers/pool.js';
import type { PackCheckResult } from '../workers/protocol.js';
import type { LocalPackDir } from './local-packs.js';

export interface AdoptedPack {
  id: string;
  size: number;
  entries: Array<{ id: string; offset: number; length: number; kind: number }>;
}

export interface Recovery {
  /** Sealed packs no metadata knew, re-hashed whole: record them and reuse their blobs. */
  adopted: AdoptedPack[];
  /** Unrecorded packs that failed the check; left for `gc` (which deletes them). */
  unusable: string[];
  /** Temporary packs of dead processes, removed. */
  tempsRemoved: number;
  tempBytesRemoved: number;
}

/**
 * What a killed writer leaves behind, dealt with by the next writer (who holds the store's
 * shared lock, so `gc` is not running):
 *
 * - a temporary pack (`objects/tmp/`) of a process that is gone is removed; one of a live
 *   process, or of another host, is that process's work in progress and stays;
 * - a sealed pack (renamed into `objects/packs/`) that metadata does not know is checked blob
 *   by blob and, when whole, adopted: the caller records it with its own commit, so the bytes
 *   the killed add already wrote are deduplicated against instead of written again. A pack
 *   another live writer sealed but has not committed yet may be adopted too; recording a pack
 *   twice is harmless (the first row wins), and sealed packs are never deleted outside `gc`.
 */
export async function recoverInterrupted(
  packs: LocalPackDir,
  pool: WorkerPool,
  known: ReadonlySet<string>,
): Promise<Recovery> {
  const out: Recovery = { adopted: [], unusable: [], tempsRemoved: 0, tempBytesRemoved: 0 };
  for (const t of await packs.listTemp()) {
    if (!t.owner || !t.owner.local || t.owner.pid === process.pid || processAlive(t.owner.pid)) continue;
    await fsp.rm(t.path, { force: true });
    out.tempsRemoved++;
    out.tempBytesRemoved += t.size;
  }
  const orphans = [...(await packs.list())].filter(([id]) => !known.has(id));
  await Promise.all(
    orphans.map(async ([id, size]) => {
      const reply = (await pool.run({ type: 'check-pack', path: packs.packPath(id), packId: id })) as {
        result: PackCheckResult;
      };
      const r = reply.result;
      if (r.ok && r.badBlobs.length === 0) out.adopted.push({ id, size, entries: r.entries });
      else out.unusable.push(id);
    }),
  );
  out.adopted.sort((a, b) => (a.id < b.id ? -1 : 1));
  out.unusable.sort();
  return out;
}
