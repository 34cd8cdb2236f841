import { formatRef } from '../core/refs.js';
import { allVersionDigests } from '../meta/repos/datasets.js';
import type { ReadDb } from '../meta/read-db.js';
import { allErasures } from '../meta/repos/retention.js';

export interface StoreRoot {
  /** What a person would call it, e.g. flights@v3. */
  ref: string;
  /** Root tree id (hex). */
  root: string;
}

/**
 * Everything that keeps blobs alive. Each capability that stores trees (runs, models,
 * releases) adds its roots here, so fsck names what breaks and gc never deletes what is used.
 */
export async function storeRoots(db: ReadDb): Promise<StoreRoot[]> {
  const out: StoreRoot[] = [];
  // An erased version keeps its row (the log names it) but no longer keeps its bytes alive.
  const erased = new Set((await allErasures(db)).map((e) => e.version_id));
  for (const v of await allVersionDigests(db))
    if (!erased.has(v.id)) out.push({ ref: formatRef(v.name, Number(v.number)), root: v.digest });
  return out;
}
