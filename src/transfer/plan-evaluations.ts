import { CairnError } from '../core/errors.js';
import { sha256Hex } from '../core/digest.js';
import type { ReadDb } from '../meta/read-db.js';
import type { RemoteState } from './state.js';
import {
  describeUnvouchedEvaluation,
  planEvaluationImport,
  type EvaluationImportPlan,
  type EvaluationVouchers,
} from './vouch-evaluations.js';

/**
 * Which evaluations of `full` this side takes (docs/REMOTES.md "Evaluations"), after the versions
 * and model versions `planned` keeps. An evaluation that no verified event vouches for exactly
 * (an invented one, an altered metric, a failing verdict passed off as passing, another author)
 * or whose version or test set is not here refuses the whole import: NOT_VOUCHED, before anything
 * is written, naming each.
 */
export async function planEvaluations(
  db: ReadDb,
  full: RemoteState,
  vouchers: EvaluationVouchers,
  planned: RemoteState,
  registrant: string | null,
  remoteName: string,
): Promise<EvaluationImportPlan> {
  if (!full.evaluations.length) return { evaluations: [], imported: [], skipped: [] };
  // A report names its version: a copy of one held here can only be among that version's
  // evaluations, so only those are read (not every report this side holds, on every push).
  const touched = [...new Set(full.evaluations.map((e) => e.version_id))];
  const localEvaluations = [];
  for (let i = 0; i < touched.length; i += 500)
    localEvaluations.push(
      ...(await db
        .selectFrom('model_evaluations')
        .select(['id', 'report'])
        .where('version_id', 'in', touched.slice(i, i + 500))
        .execute()),
    );
  const local = {
    ids: new Set((await db.selectFrom('model_evaluations').select('id').execute()).map((e) => e.id)),
    reports: new Set(localEvaluations.map((e) => `sha256:${sha256Hex(e.report)}`)),
  };
  const modelNames = new Map(
    (await db.selectFrom('models').select(['id', 'name']).execute()).map((m) => [m.id, m.name]),
  );
  for (const m of planned.models) if (!modelNames.has(m.id)) modelNames.set(m.id, m.name);
  const modelVersions = new Map<string, { model: string; number: number; digest: string }>();
  const mvRows = await db.selectFrom('model_versions').select(['id', 'model_id', 'number', 'digest']).execute();
  for (const v of [...mvRows, ...planned.modelVersions])
    modelVersions.set(v.id, { model: modelNames.get(v.model_id) ?? '?', number: Number(v.number), digest: v.digest });
  const datasetNames = new Map(
    (await db.selectFrom('datasets').select(['id', 'name']).execute()).map((x) => [x.id, x.name]),
  );
  for (const x of planned.datasets) if (!datasetNames.has(x.id)) datasetNames.set(x.id, x.name);
  const versions = new Map<string, string>();
  const versionRefs = new Map<string, string>();
  const dvRows = await db.selectFrom('dataset_versions').select(['id', 'digest', 'dataset_id', 'number']).execute();
  for (const v of [...dvRows, ...planned.versions]) {
    versions.set(v.id, v.digest);
    versionRefs.set(v.id, `${datasetNames.get(v.dataset_id) ?? '?'}@v${Number(v.number)}`);
  }
  const plan = planEvaluationImport(full, vouchers, { local, modelVersions, versions, versionRefs, registrant });
  if (plan.skipped.length)
    throw new CairnError(
      'NOT_VOUCHED',
      `${remoteName} holds evaluation(s) that no verified audit log vouches for exactly; nothing was imported:\n  ${plan.skipped
        .slice(0, 10)
        .map(describeUnvouchedEvaluation)
        .join('\n  ')}`,
      {
        data: { evaluations: plan.skipped },
        hint: 'an evaluation travels as its model.evaluate event recorded it, with its version and test set: push them from the workspace that ran it',
      },
    );
  return plan;
}
