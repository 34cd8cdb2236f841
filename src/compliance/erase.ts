import { formatDigest } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { isoUtc } from '../core/time.js';
import { treeLoader, type DatasetDeps } from '../datasets/index.js';
import type { LineageService } from '../lineage/index.js';
import { eraseOnRemotes, type RemoteErasure, type TransferDeps } from '../transfer/index.js';
import { holdsOf, insertErasure } from '../meta/repos/retention.js';
import type { AdminService, GcResult } from '../store-admin/index.js';
import { listFlat } from '../storage/tree/list.js';
import { fileChunks } from '../storage/tree/node.js';
import { holdIsActive, holdView, type HoldView } from './holds.js';
import { impactOf, type ImpactList } from './impact.js';
import { reasonParams, requireReason } from './retention.js';
import { resolveTarget, targetOf, type VersionTarget } from './target.js';

export interface EraseResult {
  ref: string;
  digest: string;
  /** Every version naming the same bytes (content addressing: they are one set of bytes); all erased. */
  versions: string[];
  alreadyErased: boolean;
  impact: ImpactList;
  /** Objects (chunks and tree nodes) deleted from the local store, and the bytes freed. */
  objectsDeleted: number;
  packsRewritten: number;
  packsDeleted: number;
  /** Files whose bytes stay because a live version holds identical bytes (content addressing). */
  keptShared: Array<{ path: string; sha256: string }>;
  /**
   * Later versions of the same dataset made from this one (`data add` after editing a checkout):
   * not lineage, but they usually hold much of the same data. Not erased.
   */
  laterVersions: string[];
  /** Remotes the log says were pushed to since the version was made: they may still hold its bytes. */
  remotes: string[];
  /** What erasure did on each configured remote (none with `localOnly`). */
  remoteErasure: RemoteErasure[];
  /** Directories the log says the version was checked out into: working copies erase cannot reach. */
  checkouts: string[];
  gc: Pick<GcResult, 'packsDeleted' | 'packsRepacked' | 'blobsDropped' | 'bytesFreed'>;
}

/** Transfer's ports too: erasure reaches the workspace's remotes. */
export interface EraseDeps extends TransferDeps {
  lineage: LineageService;
  admin: AdminService;
}

/**
 * Erases the bytes of a version (GDPR Art. 17) and keeps the record: the version row, its lineage
 * and every event stay, since events carry digests, never content. Steps: refuse while a hold or
 * retention period lasts (a `denied` event); record the erasure and the impact list in one
 * audited write; then gc, which now no longer counts the version as a root, deletes its objects
 * and rewrites any pack it shared with live data (gc's repack is crash-safe: new pack first,
 * index switched in one transaction, old file deleted last). A crash after the erasure commits
 * leaves bytes that the next `gc` or a repeated `erase` deletes.
 */
export async function eraseVersion(
  deps: EraseDeps,
  ref: string,
  opts: { reason?: string; localOnly?: boolean },
): Promise<EraseResult> {
  const reason = requireReason(opts.reason, 'an erasure');
  const r = await recordErasure(deps, ref, reason, {});
  // purge: a pack shared with live data is rewritten, not just re-indexed.
  const gc = await deps.admin.gc({ purge: true });
  const done = await finishErasure(deps, r, gc);
  // After the local erasure committed and gc repacked: the remote gets the repacked packs.
  return { ...done, remoteErasure: opts.localOnly ? [] : await eraseOnRemotes(deps) };
}

/** An erasure recorded (or found recorded), before gc takes the bytes. */
export interface RecordedErasure {
  t: VersionTarget;
  versions: string[];
  ids: string[];
  alreadyErased: boolean;
  impact: ImpactList;
  before: Array<{ path: string; sha256: string; chunks: string[] }> | null;
}

/**
 * Refuses a held version (a `denied` event), then records the erasure of every version naming
 * the same bytes and its impact list in one audited write; `extra` joins the event's params
 * (ids and digests only: never file names or the subject). A version already erased is left as
 * it is, with no second event.
 */
export async function recordErasure(
  deps: EraseDeps,
  ref: string,
  reason: string,
  extra: Record<string, unknown>,
): Promise<RecordedErasure> {
  const t = await resolveTarget(deps.meta.db, ref);
  const same = await deps.meta.db
    .selectFrom('dataset_versions as v')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['v.id', 'v.number', 'd.name'])
    .where('v.digest', '=', t.digest)
    .orderBy('d.name')
    .orderBy('v.number')
    .execute();
  const ids = same.map((v) => v.id);
  const versions = same.map((v) => `${v.name}@v${v.number}`);
  const draft = {
    action: 'dataset.erase' as const,
    target: targetOf(t),
    params: { ...reasonParams(reason), versions, ...extra },
  };
  await refuseHeld(deps, t, ids, draft);
  const already = await deps.meta.db
    .selectFrom('version_erasures')
    .select('version_id')
    .where('version_id', 'in', ids)
    .execute();
  const alreadyErased = already.length === ids.length;
  const impact = impactOf(await Promise.all(versions.map((v) => deps.lineage.of(v, 'down'))));
  const before = alreadyErased ? null : await storedObjects(deps, t.digest);
  if (!alreadyErased) {
    const at = isoUtc(deps.clock.now());
    const by = deps.actor().id;
    await deps.audit.audited({ ...draft, params: { ...draft.params, impact: impactParams(impact) } }, (commit) =>
      commit(async (tx) => {
        for (const id of ids)
          await insertErasure(tx, { version_id: id, digest: t.digest, reason, erased_at: at, erased_by: by });
      }),
    );
  }
  return { t, versions, ids, alreadyErased, impact, before };
}

/** The result of an erasure once gc ran: what stayed shared, and what erase cannot reach. */
export async function finishErasure(
  deps: EraseDeps,
  r: RecordedErasure,
  gc: GcResult,
): Promise<Omit<EraseResult, 'remoteErasure'>> {
  const kept = r.before ? await keptShared(deps, r.before) : [];
  return {
    ref: r.t.ref,
    digest: formatDigest(r.t.digest),
    versions: r.versions,
    alreadyErased: r.alreadyErased,
    impact: r.impact,
    objectsDeleted: gc.blobsDropped,
    packsRewritten: gc.packsRepacked,
    packsDeleted: gc.packsDeleted,
    keptShared: kept,
    laterVersions: await laterVersions(deps, r.ids),
    remotes: await pushedRemotes(deps, r.t.createdAt),
    checkouts: await checkoutDirs(deps, r.t.digest),
    gc: {
      packsDeleted: gc.packsDeleted,
      packsRepacked: gc.packsRepacked,
      blobsDropped: gc.blobsDropped,
      bytesFreed: gc.bytesFreed,
    },
  };
}

/** A hold on any version naming these bytes blocks the erasure, and the refusal is logged (`denied`). */
export async function refuseHeld(
  deps: EraseDeps,
  t: VersionTarget,
  ids: string[],
  draft: Parameters<EraseDeps['audit']['record']>[0],
): Promise<void> {
  const now = deps.clock.now();
  const blocking: HoldView[] = (await holdsOf(deps.meta.db, ids))
    .filter((h) => holdIsActive(h, now))
    .map((h) => holdView(h, t.ref, now));
  if (blocking.length === 0) return;
  const what = blocking
    .map((h) => (h.kind === 'retention' ? `a retention period until ${h.until}` : `a legal hold (${h.id})`))
    .join(', ');
  await deps.audit.record(draft, 'denied', `HELD: ${blocking.map((h) => h.id).join(', ')}`);
  throw new CairnError('HELD', `${t.ref} cannot be erased: it is under ${what}`, {
    data: { holds: blocking },
    hint: 'a legal hold is lifted with cairn data release-hold <ref> --reason …; a retention period has to lapse',
  });
}

/** Impact as the event records it: ids and digests, never file names. */
function impactParams(i: ImpactList): Record<string, string[]> {
  return {
    datasets: i.datasets.map((d) => d.digest ?? d.ref),
    runs: i.runs.map((r) => r.id),
    models: i.models.map((m) => m.digest ?? m.ref),
    evaluations: i.evaluations.map((e) => e.id),
    releases: i.releases.map((r) => r.id),
    deployments: i.deployments.map((d) => d.id),
  };
}

/** The version's files and their chunks, read before its trees go. */
async function storedObjects(deps: DatasetDeps, digest: string) {
  const listing = await listFlat(digest, treeLoader(deps));
  return listing.files.map((f) => ({ path: f.path, sha256: f.entry.digest, chunks: fileChunks(f.entry) }));
}

async function keptShared(
  deps: DatasetDeps,
  files: Array<{ path: string; sha256: string; chunks: string[] }>,
): Promise<Array<{ path: string; sha256: string }>> {
  const all = [...new Set(files.flatMap((f) => f.chunks))];
  const left = await deps.index.locate(all);
  return files
    .filter((f) => f.chunks.some((c) => left.has(c)))
    .map((f) => ({ path: f.path, sha256: formatDigest(f.sha256) }));
}

async function pushedRemotes(deps: DatasetDeps, since: string): Promise<string[]> {
  const rows = await deps.meta.db
    .selectFrom('audit_events')
    .select('target_name')
    .where('action', '=', 'remote.push')
    .where('outcome', '=', 'ok')
    .where('time', '>=', since)
    .distinct()
    .execute();
  return rows.map((r) => r.target_name ?? '(unnamed)').sort();
}

async function checkoutDirs(deps: DatasetDeps, digest: string): Promise<string[]> {
  const rows = await deps.meta.db
    .selectFrom('audit_events')
    .select('entry')
    .where('action', '=', 'dataset.checkout')
    .where('outcome', '=', 'ok')
    .where('entry', 'like', `%${digest}%`)
    .execute();
  const dirs = new Set<string>();
  for (const r of rows) {
    const e = JSON.parse(r.entry) as { target?: { digest?: string }; params?: { dir?: string | null } };
    if (e.target?.digest === formatDigest(digest) && typeof e.params?.dir === 'string') dirs.add(e.params.dir);
  }
  return [...dirs].sort();
}

/** Versions whose parent chain leads back to one of `ids`, outside `ids`. */
async function laterVersions(deps: DatasetDeps, ids: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set(ids);
  let frontier = [...ids];
  while (frontier.length) {
    const rows = await deps.meta.db
      .selectFrom('dataset_versions as v')
      .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
      .select(['v.id', 'v.number', 'd.name'])
      .where('v.parent_id', 'in', frontier)
      .execute();
    frontier = [];
    for (const r of rows)
      if (!seen.has(r.id)) {
        seen.add(r.id);
        frontier.push(r.id);
        out.push(`${r.name}@v${r.number}`);
      }
  }
  return out.sort();
}
