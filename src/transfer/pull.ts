import { promises as fsp } from 'node:fs';
import type { EventDraft } from '../audit/event.js';
import { CairnError, ioError } from '../core/errors.js';
import { isoUtc } from '../core/time.js';
import { recordPacks, type PackRecord } from '../meta/repos/chunks.js';
import { fsyncDir } from '../storage/objects/durable.js';
import { acquireShared } from '../storage/locks/locks.js';
import { checkPack } from '../storage/pack/reader.js';
import { dirname } from 'node:path';
import { DEFAULT_JOBS, type TransferDeps, type TransferOptions } from './deps.js';
import { openRemote } from './open-remote.js';
import { resolveRemoteRefs } from './remote-refs.js';
import { pickRemote } from './remotes-file.js';
import { checkDescriptor, packKey, readRemoteCheckpoint, readState } from './remote-layout.js';
import { fetchVerifiedLogs, type LogVouchers } from './remote-logs.js';
import { runTransfers } from './runner.js';
import { edgeParams, planEdges, type EdgeVouchers, type ImportedEdge, type UnvouchedEdge } from './vouch-edges.js';
import { packListError, packListFault, type CoverSource, type PackListFault } from './pack-cover.js';
import { divergedError, emptyState, mergeState, type RemoteState } from './state.js';
import { importState } from './state-db.js';
import type { RemoteBackend } from './backends/port.js';
import {
  describeUnvouched,
  planImport,
  type ImportedModelVersion,
  type ImportedVersion,
  type UnvouchedModelVersion,
  type UnvouchedVersion,
} from './vouch.js';
import {
  keepRuns,
  planRunImport,
  type ImportedRun,
  type RunImportPlan,
  type RunVouchers,
  type UnvouchedRun,
} from './vouch-runs.js';
import { keepEvaluations, type EvaluationImportPlan, type ImportedEvaluation } from './vouch-evaluations.js';
import { planEvaluations } from './plan-evaluations.js';

export interface PullResult {
  remote: string;
  url: string;
  imported: { datasets: number; versions: number; modelVersions: number; runs: number };
  versions: string[];
  /** `resumed`: packs an interrupted pull had already placed, re-checked and kept. */
  packs: { needed: number; fetched: number; resumed: number; present: number };
  bytesFetched: number;
  /** Each version imported into the metadata, with the remote log event that vouches for it. */
  vouched: ImportedVersion[];
  /** Versions in the remote's state that no verified log vouches for: not imported. */
  skipped: UnvouchedVersion[];
  /**
   * Versions new here that came as metadata only because the remote lists no packs for them (how
   * an erased version's record travels; a hostile remote can list any version so). Their bytes
   * were not fetched; nothing here is recorded as erased, and asked for by name they are refused.
   */
  withoutData: string[];
  /** Model versions imported (each with its voucher and registrant here), and those refused. */
  models: { imported: ImportedModelVersion[]; skipped: UnvouchedModelVersion[] };
  /** Runs imported (each with its voucher and who brought it), and those refused (docs/REMOTES.md "Runs"). */
  runs: { imported: ImportedRun[]; skipped: UnvouchedRun[] };
  /** Lineage edges imported, and those refused: no verified event or vouched row records them. */
  lineage: { imported: number; skipped: UnvouchedEdge[] };
  /** Evaluations imported, each with its voucher (a refused one refuses the pull: NOT_VOUCHED). */
  evaluations: { imported: ImportedEvaluation[] };
  /** The audit logs verified for this pull (every pushing workspace's but this one's). */
  auditLogs: Array<{ workspace: string; origin: string; size: number; root: string; verifierKey: string }>;
}

export interface PullStateOptions extends TransferOptions {
  metadataOnly?: boolean;
  /**
   * The state to import from instead of the remote's meta/state.json: a team server importing a
   * push reads what the push proposed (docs/SERVER.md "Store state"), never the store's own file.
   */
  state?: RemoteState;
  /**
   * Who is recorded as the registrant of the model versions imported: a team server names the
   * authenticated account that pushed them (docs/SERVER.md "Model versions"). Without it, the
   * author the verified registering event names.
   */
  registrant?: string;
}

/**
 * Brings the remote's metadata (versions this workspace lacks) and the packs of the named
 * versions (all, when none are named) into the local store. Each pack is downloaded to a
 * temporary file, re-hashed blob by blob, and only then renamed into place and recorded, so a
 * killed pull leaves nothing half-present and re-fetches at most what was in flight.
 */
export async function pull(
  deps: TransferDeps,
  refs: readonly string[],
  opts: PullStateOptions = {},
): Promise<PullResult> {
  const { name, config } = pickRemote(deps.remotes.load(), opts.remote);
  const r = await openRemote(deps, config, opts.onRetry ? { onRetry: opts.onRetry } : {});
  const lock = acquireShared(deps.locksDir, 'pull');
  try {
    return await deps.audit.audited(
      { action: 'remote.pull', target: { type: 'remote', name }, params: { url: r.plain.url, refs: [...refs] } },
      async (commit, draft) => {
        await checkDescriptor(r, null);
        const full = opts.state ?? (await readState(r.data));
        if (!full) throw new CairnError('NOT_FOUND', `${name} holds no metadata yet`, { hint: 'push to it first' });
        const local = await refuseConflicts(deps, full, name);
        // This workspace's own log, if it was pushed here, must still extend what the remote saw.
        const ours = await readRemoteCheckpoint(r.data, deps.workspaceId, full);
        if (ours) await deps.audit.witness(ours, `on remote ${name}`);
        // Only versions an event of a verified remote log vouches for come in (docs/REMOTES.md "Trust").
        const verified = await fetchVerifiedLogs(r.data, {
          cairnDir: deps.cairnDir,
          remoteName: name,
          remoteUrl: r.plain.url,
          ownWorkspace: deps.workspaceId,
          state: full,
        });
        const logs = verified.logs;
        const { plan, runPlan, edges, evaluations, remote } = await planPull(deps, full, local, verified, {
          registrant: opts.registrant ?? null,
          remoteName: name,
        });
        if (refs.length) refuseUnvouched(full, plan.skipped, refs, name);
        const chosen = opts.metadataOnly ? [] : refs.length ? resolveRemoteRefs(remote, refs, name) : remote.versions;
        const packs = await fetchPacks(deps, r.data, remote, chosen, {
          jobs: opts.jobs ?? config.jobs ?? DEFAULT_JOBS,
          bwlimit: opts.bwlimit ?? config.bwlimit,
          progress: opts.progress,
        });
        // A fetched version's pack list must match its tree, else nothing is recorded.
        const withoutData = await checkPackLists(deps, remote, chosen, packs.records, refs, local.versionIds);
        const versions = chosen.map((v) => `sha256:${v.digest}`);
        const auditLogs = logs.map(({ cached: _c, ...l }) => l);
        const imported = await commit(
          async (tx) => {
            const rows = { ...deps, ...importedRows(runPlan, evaluations), now: deps.clock.now() };
            const n = await importState(tx, remote, rows);
            await recordPacks(tx, packs.records, isoUtc(deps.clock.now()));
            const fetched = { versions: versions.length, ...(withoutData.length ? { withoutData } : {}) };
            draft.params = { ...draft.params, ...importParams(plan, n, auditLogs, runPlan, edges, evaluations) };
            draft.params = { ...draft.params, ...fetched, ...packParams(packs) };
            draft.inputs = versions;
            return n;
          },
          { outcome: 'ok', also: opts.registrant === undefined ? [] : runImportEvents(name, runPlan.imported) },
        );
        return {
          remote: name,
          url: r.plain.url,
          imported,
          versions,
          packs: packs.counts,
          bytesFetched: packs.bytes,
          vouched: plan.imported,
          skipped: plan.skipped,
          withoutData,
          models: { imported: plan.importedModels, skipped: plan.skippedModels },
          runs: { imported: runPlan.imported, skipped: runPlan.skipped },
          lineage: { imported: remote.lineage.length, skipped: edges.skipped },
          evaluations: { imported: evaluations.imported },
          auditLogs,
        };
      },
    );
  } finally {
    lock.release();
    await r.close();
  }
}

/**
 * Refuses the pull when a chosen version's pack list does not match its tree (docs/REMOTES.md
 * "Integrity, end to end"). A version listed with no pack at all whose root is not here comes as
 * metadata only on a whole pull (as `clone` brings it, and as an erased version must); asked for
 * by name, it is refused too. Returns those of them new here (`local`: the versions here before).
 */
async function checkPackLists(
  deps: TransferDeps,
  remote: RemoteState,
  chosen: RemoteState['versions'],
  fetched: readonly PackRecord[],
  refs: readonly string[],
  local: ReadonlySet<string>,
): Promise<string[]> {
  const named = refs.length > 0;
  const byPack = new Map(fetched.map((p) => [p.id, p.entries]));
  const src: CoverSource = {
    held: async (ids) => deps.index.locate(ids),
    entries: async (id) => byPack.get(id) ?? null,
    read: (loc) => deps.reader.read(loc),
  };
  const names = new Map(remote.datasets.map((d) => [d.id, d.name]));
  const faults: PackListFault[] = [];
  const withoutData: string[] = [];
  for (const v of chosen) {
    const rootHere = (await deps.index.has([v.digest])).size > 0;
    if (!named && v.packs.length === 0 && !rootHere) {
      if (!local.has(v.id)) withoutData.push(`${names.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`);
      continue;
    }
    // Nothing fetched for it and its root already here: it was checked whole when it came (or was made).
    if (rootHere && !v.packs.some((p) => byPack.has(p))) continue;
    const fault = await packListFault(
      { version: `${names.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`, digest: v.digest, packs: v.packs },
      src,
    );
    if (fault) faults.push(fault);
  }
  if (faults.length) throw packListError(faults, 'the remote');
  return withoutData.sort();
}

/** What the pull event records of the packs. */
function packParams(packs: FetchedPacks): Record<string, number> {
  const { fetched, resumed, present } = packs.counts;
  return { packsFetched: fetched, packsResumed: resumed, packsPresent: present, bytes: packs.bytes };
}

/** What a pull takes of the remote's state: vouched versions and models, then runs, lineage, evaluations. */
async function planPull(
  deps: TransferDeps,
  full: RemoteState,
  local: Awaited<ReturnType<typeof refuseConflicts>>,
  verified: LogVouchers,
  o: { registrant: string | null; remoteName: string },
) {
  const plan = planImport(full, verified.vouchers, local.versionIds, {
    local: local.modelVersionIds,
    localFiles: local.files,
    registrant: o.registrant,
  });
  const vouched = { runs: verified.runVouchers, edges: verified.edgeVouchers };
  const { runPlan, remote: withRuns, edges } = planRuns(full, vouched, local, plan.state, o.registrant);
  const evaluations = await planEvaluations(
    deps.meta.db,
    full,
    verified.evaluationVouchers,
    withRuns,
    o.registrant,
    o.remoteName,
  );
  return { plan, runPlan, edges, evaluations, remote: keepEvaluations(withRuns, evaluations) };
}

/** The runs and evaluations an import takes, with where each came from. */
function importedRows(runs: RunImportPlan, evaluations: EvaluationImportPlan) {
  return { imported: runs.imported, importedEvaluations: evaluations.imported };
}

/**
 * Runs after the versions they name: a run comes in only with its inputs and output on this side.
 * Then the lineage edges: only those a verified event or a vouched row records.
 */
function planRuns(
  full: RemoteState,
  vouchers: { runs: RunVouchers; edges: EdgeVouchers },
  local: { files: ReadonlyMap<string, string>; runIds: ReadonlySet<string>; edgeIds: ReadonlySet<string> },
  planned: RemoteState,
  registrant: string | null,
): { runPlan: RunImportPlan; remote: RemoteState; edges: { imported: ImportedEdge[]; skipped: UnvouchedEdge[] } } {
  const versions = new Map(local.files);
  for (const v of planned.versions) versions.set(v.id, v.digest);
  const runPlan = planRunImport(full, vouchers.runs, { local: local.runIds, versions, registrant });
  const kept = keepRuns(planned, runPlan, local.runIds);
  // Every edge the remote sent is judged (and a refused one named), not only those whose rows came in.
  const edges = planEdges({ ...kept, lineage: full.lineage }, vouchers.edges, {
    versions: local.files,
    edges: local.edgeIds,
  });
  return { runPlan, remote: { ...kept, lineage: edges.lineage }, edges };
}

/**
 * A team server's import records, besides its `remote.pull`, one `run.import` per project of the
 * runs it imported, naming only that project's runs (docs/SERVER.md "What a pull from the server
 * brings"): a reader of some projects, from whom an import event naming another project's run is
 * withheld, is shown the one of her project, which vouches for her runs and says nothing of the
 * others. Pure.
 */
export function runImportEvents(remote: string, imported: readonly ImportedRun[]): EventDraft[] {
  const byProject = new Map<string, ImportedRun[]>();
  for (const r of imported) byProject.set(r.claim.project, [...(byProject.get(r.claim.project) ?? []), r]);
  return [...byProject.keys()].sort().map((project) => ({
    action: 'run.import',
    target: { type: 'project', name: project },
    params: { remote, importedRuns: byProject.get(project)! },
  }));
}

/**
 * What the pull event records of the import: each imported version and model version with the
 * remote log event that vouches for it (this log then vouches for the rows it imported: audit
 * verify, model verify and approve, and a later push onward), and what it refused.
 */
function importParams(
  plan: ReturnType<typeof planImport>,
  n: { datasets: number },
  auditLogs: PullResult['auditLogs'],
  runs: RunImportPlan,
  edges: { imported: ImportedEdge[]; skipped: UnvouchedEdge[] },
  evaluations: EvaluationImportPlan,
): Record<string, unknown> {
  return {
    imported: plan.imported,
    importedDatasets: n.datasets,
    ...(plan.skipped.length ? { skipped: plan.skipped.map(({ why: _why, ...x }) => x) } : {}),
    ...(plan.importedModels.length ? { importedModels: plan.importedModels } : {}),
    ...(plan.skippedModels.length ? { skippedModels: plan.skippedModels } : {}),
    ...(runs.imported.length ? { importedRuns: runs.imported } : {}),
    ...(runs.skipped.length ? { skippedRuns: runs.skipped } : {}),
    ...edgeParams(edges),
    ...(evaluations.imported.length ? { importedEvaluations: evaluations.imported } : {}),
    auditLogs,
  };
}

/** A version asked for by name that no verified log vouches for is refused, by name. */
function refuseUnvouched(
  full: RemoteState,
  skipped: readonly UnvouchedVersion[],
  refs: readonly string[],
  name: string,
): void {
  const refused = new Set(skipped.map((s) => `${s.dataset}@${s.number}`));
  const names = new Map(full.datasets.map((d) => [d.id, d.name]));
  const asked = resolveRemoteRefs(full, refs, name).filter((v) =>
    refused.has(`${names.get(v.dataset_id)}@${v.number}`),
  );
  if (!asked.length) return;
  const which = skipped.filter((s) =>
    asked.some((v) => names.get(v.dataset_id) === s.dataset && v.number === s.number),
  );
  throw new CairnError(
    'NOT_VOUCHED',
    `${name} holds version(s) that no verified audit log vouches for; refusing to import them:\n  ${which.map(describeUnvouched).join('\n  ')}`,
    {
      data: { versions: which },
      hint: 'someone added them to the remote without Cairn (or the log that created them was never pushed): push them from the workspace that made them',
    },
  );
}

interface FetchedPacks {
  /** Pack rows to record: fetched, and adopted from an interrupted pull. */
  records: PackRecord[];
  counts: PullResult['packs'];
  bytes: number;
}

/**
 * Places the packs of `chosen` that the store lacks. Packs a failed or killed pull already
 * placed (whole and verified, but not recorded) are checked again and adopted instead of
 * fetched a second time.
 */
async function fetchPacks(
  deps: TransferDeps,
  data: RemoteBackend,
  remote: RemoteState,
  chosen: RemoteState['versions'],
  opts: { jobs: number; bwlimit: number | undefined; progress: TransferOptions['progress'] },
): Promise<FetchedPacks> {
  const needed = [...new Set(chosen.flatMap((v) => v.packs))].sort();
  const have = new Set((await deps.meta.db.selectFrom('packs').select('id').execute()).map((p) => p.id));
  const sizes = new Map(remote.packs.map((p) => [p.id, p.size]));
  const missing = needed.filter((id) => !have.has(id));
  const onDisk = await deps.packs.list();
  const records: PackRecord[] = [];
  for (const id of missing.filter((x) => onDisk.has(x))) {
    const check = await checkPack(deps.packs.packPath(id), id);
    if (!check.error && !check.badBlobs.length)
      records.push({
        id,
        size: onDisk.get(id)!,
        entries: check.entries.map((e) => ({ id: e.id, offset: e.offset, length: e.length, kind: e.kind })),
      });
  }
  const adopted = new Set(records.map((p) => p.id));
  const fetch = missing.filter((id) => !adopted.has(id));
  const total = fetch.reduce((n, id) => n + (sizes.get(id) ?? 0), 0);
  let got = 0;
  await deps.packs.ensure();
  opts.progress?.update(0, total, `${fetch.length} pack(s)`);
  await runTransfers(
    fetch.map((id) => ({
      bytes: sizes.get(id) ?? 0,
      run: async () => {
        try {
          records.push(await fetchPack(deps, data, id));
        } catch (err) {
          throw nameVersions(err, id, remote, chosen);
        }
      },
    })),
    {
      jobs: opts.jobs,
      ...(opts.bwlimit ? { bwlimit: opts.bwlimit } : {}),
      onBytes: (n) => opts.progress?.update((got += n), total),
    },
  );
  const fetched = records.filter((p) => !adopted.has(p.id));
  return {
    records,
    counts: {
      needed: needed.length,
      fetched: fetched.length,
      resumed: adopted.size,
      present: needed.length - missing.length,
    },
    bytes: fetched.reduce((n, p) => n + p.size, 0),
  };
}

/**
 * Refuses a pull whose remote holds other content under names this workspace uses (datasets and
 * models); returns what planImport needs of the local rows.
 */
async function refuseConflicts(
  deps: TransferDeps,
  remote: RemoteState,
  name: string,
): Promise<{
  versionIds: Set<string>;
  modelVersionIds: Set<string>;
  files: Map<string, string>;
  runIds: Set<string>;
  edgeIds: Set<string>;
}> {
  const local = emptyState();
  local.datasets = await deps.meta.db.selectFrom('datasets').selectAll().execute();
  local.versions = (await deps.meta.db.selectFrom('dataset_versions').selectAll().execute()).map((v) => ({
    ...v,
    packs: [],
  }));
  local.models = await deps.meta.db.selectFrom('models').selectAll().execute();
  local.modelVersions = await deps.meta.db.selectFrom('model_versions').selectAll().execute();
  local.runs = (await deps.meta.db.selectFrom('runs').selectAll().execute()).map(
    ({ dir: _dir, metrics_offset: _offset, ...r }) => ({ ...r, params: [], metrics: [] }),
  );
  const { conflicts } = mergeState(remote, local);
  if (conflicts.length) throw divergedError(conflicts, name, 'pull');
  return {
    versionIds: new Set(local.versions.map((v) => v.id)),
    modelVersionIds: new Set(local.modelVersions.map((v) => v.id)),
    files: new Map(local.versions.map((v) => [v.id, v.digest])),
    runIds: new Set(local.runs.map((r) => r.id)),
    edgeIds: new Set((await deps.meta.db.selectFrom('lineage_edges').select('id').execute()).map((e) => e.id)),
  };
}

/** Downloads one pack to a temporary file, checks every blob, then renames it into place. */
async function fetchPack(deps: TransferDeps, data: RemoteBackend, id: string): Promise<PackRecord> {
  const body = await data.get(packKey(id));
  const tmp = deps.packs.newTempPath();
  try {
    await fsp.writeFile(tmp, body, { flag: 'wx' });
    const fh = await fsp.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const check = await checkPack(tmp, id);
    if (check.error || check.badBlobs.length) {
      throw new CairnError(
        'CORRUPT_OBJECT',
        `pack ${id} from the remote is corrupt: ${check.error?.message ?? `${check.badBlobs.length} blob(s) do not match their digest`}`,
        {
          data: { pack: id, badBlobs: check.badBlobs.slice(0, 20) },
          hint: 'nothing was stored; push the pack again from a workspace that holds it intact',
        },
      );
    }
    const dest = deps.packs.packPath(id);
    await fsp.mkdir(dirname(dest), { recursive: true });
    await fsp.rename(tmp, dest);
    await fsyncDir(dirname(dest));
    return {
      id,
      size: body.length,
      entries: check.entries.map((e) => ({ id: e.id, offset: e.offset, length: e.length, kind: e.kind })),
    };
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw err instanceof CairnError ? err : ioError(err, 'write', tmp);
  }
}

/** A bad pack on the remote: say which versions it breaks, since that is what the user asked for. */
function nameVersions(err: unknown, packId: string, remote: RemoteState, chosen: RemoteState['versions']): unknown {
  if (!(err instanceof CairnError) || (err.code !== 'CORRUPT_OBJECT' && err.code !== 'NOT_FOUND')) return err;
  const names = new Map(remote.datasets.map((d) => [d.id, d.name]));
  const hit = chosen
    .filter((v) => v.packs.includes(packId))
    .map((v) => `${names.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`);
  return new CairnError(
    err.code === 'NOT_FOUND' ? 'MISSING_OBJECT' : err.code,
    `${err.message} (needed by ${hit.join(', ')})`,
    { ...(err.hint ? { hint: err.hint } : {}), cause: err, data: { ...err.data, pack: packId, versions: hit } },
  );
}
