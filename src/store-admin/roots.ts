import { formatRef } from '../core/refs.js';
import { allVersionDigests } from '../meta/repos/datasets.js';
import type { ReadDb } from '../meta/read-db.js';

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
  for (const v of await allVersionDigests(db)) out.push({ ref: formatRef(v.name, Number(v.number)), root: v.digest });
  return out;
}
