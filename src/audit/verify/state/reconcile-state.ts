import type { ExpectedState } from './expected-state.js';
import { Findings, type StateProblem, type UnverifiableRow } from './findings.js';
import { reconcileAliases, reconcileAliasHistory, reconcileApprovals, reconcilePolicies } from './reconcile-aliases.js';
import { reconcileTags, VersionCheck } from './reconcile-datasets.js';
import {
  reconcileDeployments,
  reconcileEvaluations,
  reconcileModelVersions,
  reconcileReleases,
} from './reconcile-models.js';
import { reconcileHolds } from './reconcile-holds.js';
import { reconcileIdentity } from './reconcile-identity.js';
import { reconcileRuns } from './reconcile-runs.js';
import type { StateRows, StateTable } from './state-rows.js';

export type { StateProblem, UnverifiableRow } from './findings.js';

export interface StateReconciliation {
  problems: StateProblem[];
  unverifiable: UnverifiableRow[];
  /** Rows compared, per table. */
  rows: Record<StateTable, number>;
}

/**
 * Compares the current rows with what the log says they must be. A row that differs from the
 * event that created or last moved it is `state-mismatch` (at that event's index); a row no
 * event accounts for is `state-unvouched`; a row an event created that is gone is
 * `state-missing`. Pure: the caller streams the events into `expected` and the rows in, both
 * from one database snapshot. Dataset versions go through `versions` row by row (the shell
 * streams them from the database); the other tables are small and come as arrays.
 */
export class StateReconciler {
  readonly #expected: ExpectedState;
  readonly #f = new Findings();
  readonly versions: VersionCheck;

  constructor(expected: ExpectedState) {
    this.#expected = expected;
    this.versions = new VersionCheck(expected.datasetVersions, this.#f);
  }

  /** After every dataset version went through `versions`: the other tables, then the findings in log order. */
  finish(rows: Omit<StateRows, 'datasetVersions'>): StateReconciliation {
    const e = this.#expected;
    const f = this.#f;
    this.versions.finish(e.uncountedImports);
    reconcileTags(e, rows.datasetTags, f);
    reconcileModelVersions(e, rows.modelVersions, f);
    reconcileAliases(e, rows.aliases, f);
    reconcileAliasHistory(e, rows.aliasHistory, f);
    reconcileApprovals(e, rows.approvals, f);
    reconcilePolicies(e, rows.policies, f);
    reconcileEvaluations(e, rows.evaluations, f);
    reconcileDeployments(e, rows.deployments, f);
    reconcileRuns(e, rows.runs, f);
    reconcileReleases(e, rows.releases, f);
    reconcileHolds(e, rows.holds, f);
    reconcileIdentity(e, rows, f);
    // In log order; rows no event accounts for last.
    const problems = f.problems.sort((a, b) => (a.index ?? Infinity) - (b.index ?? Infinity));
    const counts: Record<StateTable, number> = {
      dataset_versions: this.versions.rows,
      dataset_tags: rows.datasetTags.length,
      model_versions: rows.modelVersions.length,
      model_aliases: rows.aliases.length,
      model_alias_events: rows.aliasHistory.length,
      model_approvals: rows.approvals.length,
      model_policies: rows.policies.length,
      model_evaluations: rows.evaluations.length,
      deployments: rows.deployments.length,
      runs: rows.runs.length,
      releases: rows.releases.length,
      version_holds: rows.holds?.length ?? 0,
      principals: rows.accounts?.length ?? 0,
      role_grants: rows.grants?.length ?? 0,
      api_tokens: rows.tokens?.length ?? 0,
    };
    return { problems, unverifiable: f.unverifiable, rows: counts };
  }
}

/** The whole reconciliation over rows held in memory (tests; small workspaces). */
export function reconcileState(expected: ExpectedState, rows: StateRows): StateReconciliation {
  const r = new StateReconciler(expected);
  for (const v of rows.datasetVersions) r.versions.row(v.dataset, v.number, v.digest, v.author);
  return r.finish(rows);
}
