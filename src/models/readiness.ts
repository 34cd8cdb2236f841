import type { DatasetDeps } from '../datasets/index.js';
import { policyOf, unmetConditions, type AliasPolicy } from './aliases.js';
import { resolveModel } from './registry.js';

/** A version's stored evaluation: the verdict and its evidence (intervals, slices), as `model evaluate` wrote it. */
export interface StoredEvaluation {
  suite: string;
  suiteDigest: string;
  data: string | null;
  passed: boolean;
  at: string;
  by: string;
  report: unknown;
}

/** Every evaluation of a version, oldest first, with its full report. */
export async function evaluationsOf(deps: Pick<DatasetDeps, 'meta'>, ref: string): Promise<StoredEvaluation[]> {
  const m = await resolveModel(deps, ref);
  const rows = await deps.meta.db
    .selectFrom('model_evaluations')
    .selectAll()
    .where('version_id', '=', m.version.id)
    .orderBy('at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    suite: r.suite,
    suiteDigest: r.suite_digest,
    data: r.data_version_id,
    passed: r.passed === 1 || (r.passed as unknown) === true,
    at: r.at,
    by: r.by,
    report: JSON.parse(r.report) as unknown,
  }));
}

/**
 * What a promotion of `ref` to `alias` would meet: the alias's policy and the conditions the
 * version does not meet yet (the same check `promote` makes before it moves anything), so a
 * person sees them before the click.
 */
export async function readiness(
  deps: Pick<DatasetDeps, 'meta'>,
  ref: string,
  alias: string,
): Promise<{ ref: string; alias: string; policy: AliasPolicy | null; unmet: string[] }> {
  const m = await resolveModel(deps, ref);
  return {
    ref: m.ref,
    alias,
    policy: await policyOf(deps, m.model.id, alias),
    unmet: await unmetConditions(deps, m.model, m.version, alias),
  };
}
