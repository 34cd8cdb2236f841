import { lstatSync, promises as fsp, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { isoUtc } from '../core/time.js';
import {
  allBlobs,
  blobsLocate,
  deletePacks,
  listPacks,
  moveBlobs,
  recordPacks,
  type BlobRow,
} from '../meta/repos/chunks.js';
import { PackRoller } from '../storage/ingest/pack-roller.js';
import { acquireExclusive } from '../storage/locks/locks.js';
import { planGc, type GcPlan } from '../storage/gc/plan.js';
import { damageFinder } from '../storage/fsck/reachability.js';
import {
  blobLocator,
  censusTreeLoader,
  describeDamage,
  indexDamage,
  readCensus,
  type PackCensus,
} from '../storage/fsck/pack-census.js';
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
    const onDisk = await deps.packs.list();
    // Every pack's own index (never its blobs): what is really where, whatever the rows say.
    const census = await readCensus(deps.packs, onDisk);
    const reachable = await reachableBlobs(deps, roots, blobs, census);
    const plan = planGc({
      packs: (await listPacks(deps.meta.db)).map((p) => ({ id: p.id, size: Number(p.size) })),
      blobs,
      reachable,
      onDisk,
      unreadable: new Set(census.unreadable.keys()),
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
    if (!opts.dryRun) await applyGc(deps, plan, { temps, cacheDirs, base, census, reachable });
    return base;
  } finally {
    lock.release();
  }
}

/**
 * Every blob some root reaches, its trees read from where the packs' own indexes put them. A
 * root tree with no bytes here is a metadata-only version (`pull --metadata-only`; every version
 * pushed to a team server until something there reads it): it keeps nothing of this store alive.
 * A root whose trees cannot all be read stops gc (it cannot tell what is garbage), and so does a
 * live blob that is on disk where the index does not place it: a lost or edited `blobs` row
 * would otherwise make a live version's packs look like garbage.
 */
async function reachableBlobs(
  deps: StoreAdminDeps,
  roots: readonly StoreRoot[],
  blobs: readonly BlobRow[],
  census: PackCensus,
): Promise<Set<string>> {
  const reachable = new Set<string>();
  const locate = blobLocator(new Map(blobs.map((b) => [b.id, b])), census);
  const load = censusTreeLoader(locate, (loc) => deps.reader.read(loc));
  const visit = damageFinder(load, (id) => locate(id).status === 'absent', reachable);
  for (const r of roots) {
    const s = locate(r.root);
    if (s.status === 'absent' && !s.row) continue;
    const d = await visit(r.root);
    if (d.unreadable.length > 0) {
      throw new CairnError('CORRUPT_OBJECT', `cannot read every tree of ${r.ref}, so gc cannot tell what is garbage`, {
        hint: 'run `cairn fsck` and repair the store first',
      });
    }
  }
  const damage = indexDamage(reachable, locate, roots);
  if (damage.length > 0) {
    throw new CairnError(
      'INDEX_DAMAGED',
      `${describeDamage(damage[0]!)}${damage.length > 1 ? ` (and ${damage.length - 1} more live blob(s))` : ''}; gc deleted nothing`,
      {
        data: { damage: damage.slice(0, 100), count: damage.length },
        hint: "run `cairn fsck --repair` to restore the index from the packs' own indexes, then `cairn gc` again",
      },
    );
  }
  return reachable;
}

/** Carries out a plan: repack, then the metadata (audited), then the files nothing points into. */
async function applyGc(
  deps: StoreAdminDeps,
  plan: GcPlan,
  ctx: {
    temps: ReadonlyArray<{ path: string }>;
    cacheDirs: readonly string[];
    base: GcResult;
    census: PackCensus;
    reachable: ReadonlySet<string>;
  },
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
      const unreferenced = candidates.filter((id) => !live.has(id));
      // And none whose own index holds a live blob that the committed index does not place,
      // verified, in another pack: the file would be that blob's last copy.
      const held = await lastCopies(tx.db, unreferenced, ctx.census, ctx.reachable, written);
      const files = unreferenced.filter((id) => !held.has(id));
      draft.params = { ...ctx.base, dryRun: undefined, deleted: files, ...(held.size ? { kept: [...held] } : {}) };
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

/**
 * The packs among `ids` that must stay: their own index cannot be read, or it lists a live blob
 * whose committed row is not a verified copy elsewhere (another pack on disk that holds it there,
 * or one this gc just wrote).
 */
async function lastCopies(
  db: ReadDb,
  ids: readonly string[],
  census: PackCensus,
  reachable: ReadonlySet<string>,
  written: ReadonlySet<string>,
): Promise<Set<string>> {
  const held = new Set<string>();
  const live = new Set<string>();
  for (const id of ids) for (const b of census.packs.get(id)?.keys() ?? []) if (reachable.has(b)) live.add(b);
  const rows = await blobsLocate(db, [...live]);
  for (const id of ids) {
    if (census.unreadable.has(id)) held.add(id);
    for (const b of census.packs.get(id)?.keys() ?? []) {
      if (!reachable.has(b)) continue;
      const r = rows.get(b);
      const there = r && census.packs.get(r.pack_id)?.get(b);
      const copy = r && r.pack_id !== id && (written.has(r.pack_id) || (there && there.offset === Number(r.offset)));
      if (!copy) held.add(id);
    }
  }
  return held;
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
