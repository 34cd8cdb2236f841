import { CairnError } from '../core/errors.js';
import { allErasures, insertErasure } from '../meta/repos/retention.js';
import type { WriteTx } from '../meta/write-tx.js';
import type { TransferDeps } from './deps.js';
import type { RemoteState } from './state.js';
import type { ErasureVouchers, ImportedErasure } from './vouch-erasures.js';

/** How a pull treats the chosen versions whose root is not here and that a remote lists without (all) data. */
export interface ErasurePlan {
  /** Versions to bring in as erased: a verified event vouches for the erasure of their root. */
  erased: Array<ImportedErasure & { id: string }>;
  /** Versions the user let through as unvouched erasures (`--allow-unvouched-erasures`): metadata only, not recorded as erased. */
  withoutData: string[];
  /** Ids of the versions whose packs are not fetched (erased here, erased as vouched, or let through). */
  skip: Set<string>;
}

/**
 * Decides, before anything is fetched, what a pull does with each chosen version that lists no
 * pack or whose bytes were erased (docs/REMOTES.md "Erased versions"). A remote's empty pack list
 * is only a claim: a version whose root is not here comes as erased only when a verified log on
 * the remote (or this workspace's own record) vouches for the erasure of its digest; a vouched
 * erasure is taken even where the remote still lists packs (they hold bytes that were meant to go).
 * Any other version listing no pack is refused (NOT_VOUCHED, naming each and the remote) unless
 * named in `allow`. A version whose root is here is left to the pack-list check: a pull never
 * erases what this workspace holds.
 */
export async function planErasures(
  deps: TransferDeps,
  remote: RemoteState,
  chosen: RemoteState['versions'],
  vouchers: ErasureVouchers,
  o: { allow: readonly string[]; remoteName: string },
): Promise<ErasurePlan> {
  const here = await deps.index.has(chosen.map((v) => v.digest));
  const erasedHere = new Set((await allErasures(deps.meta.db)).map((e) => e.digest));
  const names = new Map(remote.datasets.map((d) => [d.id, d.name]));
  const allow = new Set(o.allow);
  const plan: ErasurePlan = { erased: [], withoutData: [], skip: new Set() };
  const unvouched: Array<{ version: string; digest: string }> = [];
  for (const v of chosen) {
    if (here.has(v.digest)) continue;
    const version = `${names.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`;
    const voucher = vouchers.get(`sha256:${v.digest}`);
    if (erasedHere.has(v.digest)) plan.skip.add(v.id);
    else if (voucher) {
      plan.skip.add(v.id);
      plan.erased.push({ ...voucher, id: v.id, dataset: names.get(v.dataset_id) ?? v.dataset_id, number: v.number });
    } else if (v.packs.length === 0) {
      if (allow.has(version)) {
        plan.skip.add(v.id);
        plan.withoutData.push(version);
      } else unvouched.push({ version, digest: `sha256:${v.digest}` });
    }
  }
  if (unvouched.length) throw unvouchedErasureError(unvouched, o.remoteName);
  plan.withoutData.sort();
  return plan;
}

function unvouchedErasureError(versions: Array<{ version: string; digest: string }>, remote: string): CairnError {
  const list = versions.map((v) => v.version);
  return new CairnError(
    'NOT_VOUCHED',
    `${remote} lists no data for ${list.join(', ')}, and no verified audit log on it vouches for an erasure of ${versions.length === 1 ? 'it' : 'them'}; refusing the pull, nothing was imported`,
    {
      data: { remote, unvouchedErasures: versions },
      hint: `if the workspace that erased them pushes (its log carries the erasure), the next pull takes them as erased; for a remote written by an older Cairn, pull with --allow-unvouched-erasures ${list.join(',')} to import them as metadata only (recorded in the pull's event)`,
    },
  );
}

/**
 * Records the vouched erasures in the pull's transaction (after the version rows): checkout and
 * gc then treat the version as erased here, as in the eraser's workspace. The reason's text stays
 * with the eraser; the row names where the erasure is vouched for.
 */
export async function recordErasures(tx: WriteTx, erased: ErasurePlan['erased']): Promise<void> {
  for (const e of erased)
    await insertErasure(tx, {
      version_id: e.id,
      digest: e.digest.slice('sha256:'.length),
      reason: `erased in workspace ${e.workspace} (${e.origin}, audit entry ${e.index})${e.reasonDigest ? `, reason ${e.reasonDigest}` : ''}`,
      erased_at: e.erasedAt,
      erased_by: e.erasedBy,
    });
}

/** What the pull event records of each erasure it imported (without the local row id). */
export function erasureParams(erased: ErasurePlan['erased']): ImportedErasure[] {
  return erased.map(({ id: _id, ...x }) => x);
}
