import { lstatSync, promises as fsp, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { isoUtc } from '../core/time.js';
import { treeLoader } from '../datasets/index.js';
import { allBlobs, deletePacks, listPacks, moveBlobs, recordPacks, type BlobRow } from '../meta/repos/chunks.js';
import { PackRoller } from '../storage/ingest/pack-roller.js';
import { acquireExclusive } from '../storage/locks/locks.js';
import { planGc, type GcPlan } from '../storage/gc/plan.js';
import { damageFinder } from '../storage/fsck/reachability.js';
import { BlobKind, type BlobKindCode } from '../storage/pack/format.js';
import type { FinishedPack } from '../storage/pack/writer.js';
import { removeTree } from '../storage/cache/read-only.js';
import type { StoreAdminDeps } from './deps.js';
import { storeRoots, type StoreRoot } from './roots.js';
import type { ReadDb } from '../meta/read-db.js';

export interface GcResult {
  dryRun: boolean;
  packsDeleted: number;
  packsRepacked: number;
  orphanPacksDeleted: number;
  tempFilesDeleted: number;
  /** Materialized version copies, hardlink sources and leftovers of interrupted commands. */
  cacheBytesFreed: number;
  blobsDropped: number;
  bytesFreed: number;
  bytesCopied: number;
  roots: number;
}

/**
 * Deletes only what no root reaches. Holds the store's exclusive lock, so no `data add` can
 * be between writing a pack and committing it while we decide what is garbage.
 */
export async function runGc(deps: StoreAdminDeps, opts: { dryRun?: boolean; purge?: boolean } = {}): Promise<GcResult> {
  const lock = acquireExclusive(deps.locksDir, opts.dryRun ? 'gc --dry-run' : 'gc');
  try {
    const roots = await storeRoots(deps.meta.db);
    const blobs = await allBlobs(deps.meta.db);
    const reachable = await reachableBlobs(deps, roots, blobs);
    const plan = planGc({
      packs: (await listPacks(deps.meta.db)).map((p) => ({ id: p.id, size: Number(p.size) })),
      blobs,
      reachable,
      onDisk: await deps.packs.list(),
      ...(opts.purge ? { purge: true } : {}),
    });
    const temps = await deps.packs.listTemp();
    // Re-creatable on demand: version copies read by DuckDB, hardlink sources, work folders.
    const cacheDirs = [
      join(deps.cacheDir, 'versions'),
      join(deps.cacheDir, 'files'),
      join(deps.cacheDir, 'tables'),
      join(dirname(deps.cacheDir), 'tmp'),
    ];
    const cacheBytes = cacheDirs.reduce((n, d) => n + treeBytes(d), 0);
    const base: GcResult = {
      dryRun: opts.dryRun === true,
      packsDeleted: plan.deletePacks.length,
      packsRepacked: plan.repackPacks.length,
      orphanPacksDeleted: plan.orphanPacks.length,
      tempFilesDeleted: temps.length,
      blobsDropped: plan.dropBlobs.length,
      bytesFreed: plan.bytesFreed + temps.reduce((n, t) => n + t.size, 0) + cacheBytes,
      cacheBytesFreed: cacheBytes,
      bytesCopied: plan.bytesCopied,
      roots: roots.length,
    };
    if (!opts.dryRun) await applyGc(deps, plan, { temps, cacheDirs, base });
    return base;
  } finally {
    lock.release();
  }
}

/** Every blob some root reaches; a root whose trees cannot all be read stops gc (it cannot tell what is garbage). */
async function reachableBlobs(
  deps: StoreAdminDeps,
  roots: readonly StoreRoot[],
  blobs: readonly BlobRow[],
): Promise<Set<string>> {
  const reachable = new Set<string>();
  const indexed = new Set(blobs.map((b) => b.id));
  const visit = damageFinder(treeLoader(deps), (id) => !indexed.has(id), reachable);
  for (const r of roots) {
    // A version imported as metadata only (`pull --metadata-only`; every version pushed to a team
    // server until something there reads it) has no tree here: it keeps no bytes of this store
    // alive, and its bytes are on the remote. A root tree that is here with a subtree missing is
    // damage, and stops gc.
    if (!indexed.has(r.root)) continue;
    const d = await visit(r.root);
    if (d.unreadable.length > 0) {
      throw new CairnError('CORRUPT_OBJECT', `cannot read every tree of ${r.ref}, so gc cannot tell what is garbage`, {
        hint: 'run `cairn fsck` and repair the store first',
      });
    }
  }
  return reachable;
}

/** Carries out a plan: repack, then the metadata (audited), then the files nothing points into. */
async function applyGc(
  deps: StoreAdminDeps,
  plan: GcPlan,
  ctx: { temps: ReadonlyArray<{ path: string }>; cacheDirs: readonly string[]; base: GcResult },
): Promise<void> {
  await deps.audit.audited({ action: 'store.gc', target: { type: 'store' } }, async (commit, draft) => {
    const repacked = await repack(deps, plan);
    // A repack may write a pack that exists already, id and all (the same live blobs in the
    // same order): a duplicate planned for deletion or an orphan a crash left. That id now
    // holds live data and must survive, rows and file.
    const written = new Set(repacked.packs.map((p) => p.id));
    const dropRows = [...plan.deletePacks, ...plan.repackPacks].map((p) => p.id).filter((id) => !written.has(id));
    const candidates = [...plan.deletePacks, ...plan.repackPacks, ...plan.orphanPacks]
      .map((p) => p.id)
      .filter((id) => !written.has(id));
    const removable = await commit(async (tx) => {
      await recordPacks(tx, repacked.packs, isoUtc(deps.clock.now()));
      await moveBlobs(tx, repacked.moved);
      await deletePacks(tx, dropRows);
      if (plan.dropBlobs.length) {
        for (let i = 0; i < plan.dropBlobs.length; i += 500)
          await tx.db
            .deleteFrom('blobs')
            .where('id', 'in', plan.dropBlobs.slice(i, i + 500))
            .execute();
      }
      // The general defence: whatever the plan said, no file goes that the committed index
      // still points into.
      const live = await referencedPacks(tx.db);
      const files = candidates.filter((id) => !live.has(id));
      draft.params = { ...ctx.base, dryRun: undefined, deleted: files };
      return files;
    });
    // Files go only after the metadata stopped pointing at them; a crash here leaves
    // orphans, which the next gc (or add) deals with.
    for (const id of removable) await fsp.rm(deps.packs.packPath(id), { force: true });
    for (const t of ctx.temps) await fsp.rm(t.path, { force: true });
    // Cached copies are read-only folders: make them writable to delete them.
    for (const d of ctx.cacheDirs) removeTree(d);
  });
}

async function repack(deps: StoreAdminDeps, plan: GcPlan): Promise<{ packs: FinishedPack[]; moved: BlobRow[] }> {
  if (plan.repackPacks.length === 0) return { packs: [], moved: [] };
  const roller = new PackRoller(deps.packs, deps.config.storage.pack_size_mib * 1024 * 1024);
  try {
    for (const p of plan.repackPacks) {
      for (const b of p.live) {
        const bytes = await deps.reader.read({
          id: b.id,
          packId: b.pack_id,
          offset: Number(b.offset),
          length: Number(b.length),
        });
        await roller.append((b.kind === BlobKind.tree ? BlobKind.tree : BlobKind.chunk) as BlobKindCode, b.id, bytes);
      }
    }
    const packs = await roller.finish();
    const moved: BlobRow[] = [];
    for (const p of packs)
      for (const e of p.entries)
        moved.push({ id: e.id, pack_id: p.id, offset: e.offset, length: e.length, kind: e.kind });
    return { packs, moved };
  } catch (err) {
    // gc holds the exclusive lock: unrecorded repack output can go (a recorded id stays).
    await roller.discard(deps.index, { exclusive: true });
    throw err;
  }
}

/** Every pack the index still refers to: a pack row, or a blob row placed in it. */
async function referencedPacks(db: ReadDb): Promise<Set<string>> {
  const out = new Set<string>();
  for (const r of await db.selectFrom('packs').select('id').execute()) out.add(r.id);
  for (const r of await db.selectFrom('blobs').select('pack_id').distinct().execute()) out.add(r.pack_id);
  return out;
}

/** Bytes of regular files below `dir` (0 when it does not exist). */
function treeBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const n of names) {
    const p = join(dir, n);
    const st = lstatSync(p);
    total += st.isDirectory() ? treeBytes(p) : st.isFile() ? st.size : 0;
  }
  return total;
}
