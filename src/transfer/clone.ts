import { CairnError } from '../core/errors.js';
import type { TransferDeps } from './deps.js';
import { openRemote } from './open-remote.js';
import { checkDescriptor, readState } from './remote-layout.js';
import { fetchVerifiedLogs } from './remote-logs.js';
import { importState } from './state-db.js';
import type { RemoteConfig } from './remotes-file.js';
import { keepRuns, planRunImport } from './vouch-runs.js';
import { edgeParams, planEdges } from './vouch-edges.js';
import { keepEvaluations } from './vouch-evaluations.js';
import { planEvaluations } from './plan-evaluations.js';
import { planImport, type ImportedVersion, type UnvouchedVersion } from './vouch.js';

export interface CloneResult {
  remote: string;
  url: string;
  datasets: number;
  versions: number;
  /** Model versions imported (each vouched by a verified `model.register` or import event). */
  modelVersions: number;
  auditLogs: Array<{ workspace: string; origin: string; size: number; root: string; verifierKey: string; ok: true }>;
  /** Each imported version with the remote log event that vouches for it. */
  imported: ImportedVersion[];
  /** Versions in the remote's state that no verified log vouches for: not imported. */
  skipped: UnvouchedVersion[];
}

/**
 * Fills a freshly initialized workspace from a remote: the metadata of every version that an
 * event of a verified remote audit log vouches for (data stays remote until `cairn pull`).
 * Every audit log the remote carries is verified on its own (signatures, checkpoints, proofs)
 * before anything is imported, kept under `.cairn/remote-audit/<remote>/<workspace>/` and pinned
 * (see fetchVerifiedLogs). The workspace's own log then starts with the clone event, which names
 * the logs it verified and, per imported version, the event that vouched for it — so this log
 * vouches for every row it imported.
 */
/** A new workspace holds no version and no edge yet. */
const NOTHING_HERE = { versions: new Map<string, string>(), edges: new Set<string>() };

export async function cloneInto(
  deps: TransferDeps,
  remote: { name: string; config: RemoteConfig },
  opts: { key?: Buffer } = {},
): Promise<CloneResult> {
  const r = await openRemote(deps, remote.config, opts.key ? { key: opts.key } : {});
  try {
    return await deps.audit.audited(
      { action: 'workspace.clone', target: { type: 'remote', name: remote.name }, params: { url: r.plain.url } },
      async (commit, draft) => {
        await checkDescriptor(r, null);
        const state = await readState(r.data);
        if (!state)
          throw new CairnError('NOT_FOUND', `${r.plain.url} holds no metadata yet`, { hint: 'push to it first' });
        const { logs, vouchers, runVouchers, edgeVouchers, evaluationVouchers } = await fetchVerifiedLogs(r.data, {
          cairnDir: deps.cairnDir,
          remoteName: remote.name,
          remoteUrl: r.plain.url,
          ownWorkspace: deps.workspaceId,
          state,
        });
        const plan = planImport(state, vouchers, new Set());
        const runPlan = planRunImport(state, runVouchers, {
          local: new Set(),
          versions: new Map(plan.state.versions.map((v) => [v.id, v.digest])),
          registrant: null,
        });
        const auditLogs = logs.map((l) => ({
          workspace: l.workspace,
          origin: l.origin,
          size: l.size,
          root: l.root,
          verifierKey: l.verifierKey,
          ok: true as const,
        }));
        const kept = keepRuns(plan.state, runPlan, new Set());
        const edges = planEdges({ ...kept, lineage: state.lineage }, edgeVouchers, NOTHING_HERE);
        const withRuns = { ...kept, lineage: edges.lineage };
        const evaluations = await planEvaluations(deps.meta.db, state, evaluationVouchers, withRuns, null, remote.name);
        const n = await commit(async (tx) => {
          const counts = await importState(tx, keepEvaluations(withRuns, evaluations), {
            cairnDir: deps.cairnDir,
            imported: runPlan.imported,
            importedEvaluations: evaluations.imported,
            now: deps.clock.now(),
          });
          draft.params = {
            ...draft.params,
            datasets: counts.datasets,
            versions: counts.versions,
            auditLogs: auditLogs.map(({ ok: _ok, ...l }) => l),
            imported: plan.imported,
            ...(plan.skipped.length ? { skipped: plan.skipped.map(({ why: _why, ...s }) => s) } : {}),
            ...(plan.importedModels.length ? { importedModels: plan.importedModels } : {}),
            ...(plan.skippedModels.length ? { skippedModels: plan.skippedModels } : {}),
            ...(runPlan.imported.length ? { importedRuns: runPlan.imported } : {}),
            ...(runPlan.skipped.length ? { skippedRuns: runPlan.skipped } : {}),
            ...edgeParams(edges),
            ...(evaluations.imported.length ? { importedEvaluations: evaluations.imported } : {}),
          };
          return counts;
        });
        return {
          remote: remote.name,
          url: r.plain.url,
          datasets: n.datasets,
          versions: n.versions,
          modelVersions: n.modelVersions,
          auditLogs,
          imported: plan.imported,
          skipped: plan.skipped,
        };
      },
    );
  } finally {
    await r.close();
  }
}
