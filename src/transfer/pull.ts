import type { EventDraft } from '../audit/event.js';
import { CairnError } from '../core/errors.js';
import { isoUtc } from '../core/time.js';
import { recordPacks } from '../meta/repos/chunks.js';
import { acquireShared } from '../storage/locks/locks.js';
import { DEFAULT_JOBS, type TransferDeps, type TransferOptions } from './deps.js';
import { openRemote } from './open-remote.js';
import { resolveRemoteRefs } from './remote-refs.js';
import { pickRemote, type RemoteConfig } from './remotes-file.js';
import { checkDescriptor, readRemoteCheckpoint, readState } from './remote-layout.js';
import { fetchVerifiedLogs, type LogVouchers } from './remote-logs.js';
import { edgeParams, planEdges, type EdgeVouchers, type ImportedEdge, type UnvouchedEdge } from './vouch-edges.js';
import { divergedError, emptyState, mergeState, type RemoteState } from './state.js';
import { importState } from './state-db.js';
import type { RemoteBackend } from './backends/port.js';
import { checkPackLists, discardPacks, fetchPacks, placePacks, type FetchedPacks } from './pull-packs.js';
import { erasureParams, planErasures, recordErasures, type ErasurePlan } from './pull-erasures.js';
import type { ErasureVouchers, ImportedErasure } from './vouch-erasures.js';
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
   * Versions brought in as erased: the remote lists no (or not all) data for them and a verified
   * log on it vouches for the erasure of their digest. Recorded as erased here, with the voucher.
   */
  erased: ImportedErasure[];
  /**
   * Versions that came as metadata only because the user let them through
   * (`allowUnvouchedErasures`): the remote lists no data for them and no verified log vouches for
   * an erasure (a remote written by an older Cairn). Nothing here is recorded as erased.
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
   * Versions (`name@vN`) the remote lists without data and no verified log vouches for the erasure
   * of, to import as metadata only anyway (an old remote); without it such a pull is refused.
   */
  allowUnvouchedErasures?: readonly string[];
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
        const verified = await fetchVerifiedLogs(r.data, logsToVerify(deps, name, r.plain.url, full));
        const planned = await planPull(deps, full, local, verified, {
          registrant: opts.registrant ?? null,
          remoteName: name,
        });
        const { plan, runPlan, edges, evaluations, remote } = planned;
        if (refs.length) refuseUnvouched(full, plan.skipped, refs, name);
        const chosen = opts.metadataOnly ? [] : refs.length ? resolveRemoteRefs(remote, refs, name) : remote.versions;
        const { packs, erasures, fetched } = await fetchChecked(deps, r.data, remote, chosen, {
          opts,
          config,
          remoteName: name,
          vouchers: verified.erasureVouchers,
          local: local.versionIds,
        });
        const versions = fetched.map((v) => `sha256:${v.digest}`);
        const auditLogs = verified.logs.map(({ cached: _c, ...l }) => l);
        const got = { versions: versions.length, ...erasureEvent(erasures), ...packParams(packs) };
        const imported = await commit(
          async (tx) => {
            const now = deps.clock.now();
            const n = await importState(tx, remote, { ...deps, ...importedRows(runPlan, evaluations), now });
            await recordPacks(tx, packs.records, isoUtc(deps.clock.now()));
            await recordErasures(tx, erasures.erased);
            draft.params = {
              ...draft.params,
              ...importParams(plan, n, auditLogs, runPlan, edges, evaluations),
              ...got,
            };
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
          ...erasureResult(erasures),
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

type VerifyLogsOptions = Parameters<typeof fetchVerifiedLogs>[1];

function logsToVerify(deps: TransferDeps, remoteName: string, remoteUrl: string, state: VerifyLogsOptions['state']) {
  return { cairnDir: deps.cairnDir, remoteName, remoteUrl, ownWorkspace: deps.workspaceId, state };
}

/**
 * The data of the chosen versions: erased and unvouched ones sorted out before anything is fetched
 * (refused: NOT_VOUCHED), then the packs of the rest fetched and checked against their trees
 * (refused: PACK_LIST_MISMATCH) and only then put in place, so a refused pull leaves the store as
 * it was. Returns the versions whose data came (or was here).
 */
async function fetchChecked(
  deps: TransferDeps,
  data: RemoteBackend,
  remote: RemoteState,
  chosen: RemoteState['versions'],
  o: {
    opts: PullStateOptions;
    config: RemoteConfig;
    remoteName: string;
    vouchers: ErasureVouchers;
    /** The versions here before the pull. */
    local: ReadonlySet<string>;
  },
): Promise<{ packs: FetchedPacks; erasures: ErasurePlan; fetched: RemoteState['versions'] }> {
  // A team server importing a push (`state`) fetches nothing, but what it lists is what its
  // readers pull: a new version listed without data must be a vouched erasure there too.
  if (o.opts.state) {
    const empty = remote.versions.filter((v) => !o.local.has(v.id) && v.packs.length === 0);
    await planErasures(deps, remote, empty, o.vouchers, { allow: [], remoteName: 'the push' });
  }
  const allow = o.opts.allowUnvouchedErasures ?? [];
  const erasures = await planErasures(deps, remote, chosen, o.vouchers, { allow, remoteName: o.remoteName });
  const fetched = chosen.filter((v) => !erasures.skip.has(v.id));
  const packs = await fetchPacks(deps, data, remote, fetched, {
    jobs: o.opts.jobs ?? o.config.jobs ?? DEFAULT_JOBS,
    bwlimit: o.opts.bwlimit ?? o.config.bwlimit,
    progress: o.opts.progress,
  });
  try {
    await checkPackLists(deps, remote, fetched, packs, o.remoteName);
  } catch (err) {
    await discardPacks(packs.staged);
    throw err;
  }
  await placePacks(deps, packs.staged);
  return { packs, erasures, fetched };
}

function erasureResult(e: ErasurePlan): Pick<PullResult, 'erased' | 'withoutData'> {
  return { erased: erasureParams(e.erased), withoutData: e.withoutData };
}

/** What the pull event records of the erasures it brought in, and of the versions let through without data. */
function erasureEvent(e: ErasurePlan): Record<string, unknown> {
  return {
    ...(e.erased.length ? { importedErasures: erasureParams(e.erased) } : {}),
    ...(e.withoutData.length ? { withoutData: e.withoutData } : {}),
  };
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
