import type { DatasetDeps } from '../datasets/index.js';
import type { ModelCard } from './card.js';
import { resolveModel } from './registry.js';
import { authorsOf } from './aliases.js';

/** `cairn model show`: a version with its aliases, metrics, evaluations and approvals. */
export interface ModelVersionDetail {
  ref: string;
  digest: string;
  format: string;
  run: string | null;
  created: string;
  by: string;
  /** Who registered it and who started the run that trained it: who may not approve it. */
  authors: string[];
  aliases: string[];
  signature: unknown;
  /** The dataset version that holds its files (`models/spam@v3`, or a run's output version). */
  files: string | null;
  metrics: Record<string, number>;
  /**
   * `by`: who ran it; `imported`: null for an evaluation this side ran, else where it came from
   * (the origin log that vouches for it, who ran it there, who brought it here). Alias policies
   * count imported ones only when they say so (docs/SERVER.md "Evaluations").
   */
  evaluations: Array<{
    suite: string;
    passed: boolean;
    at: string;
    by: string;
    imported: { origin: string; author: string; importedBy: string } | null;
  }>;
  approvals: Array<{ alias: string; approver: string; at: string }>;
}

export async function showModel(deps: Pick<DatasetDeps, 'meta'>, ref: string): Promise<ModelVersionDetail> {
  const m = await resolveModel(deps, ref);
  const db = deps.meta.db;
  const aliases = await db
    .selectFrom('model_aliases')
    .select(['alias'])
    .where('version_id', '=', m.version.id)
    .execute();
  const evaluations = await db
    .selectFrom('model_evaluations as e')
    .leftJoin('evaluation_imports as i', 'i.evaluation_id', 'e.id')
    .select(['e.suite', 'e.passed', 'e.at', 'e.by', 'i.origin', 'i.author', 'i.imported_by'])
    .where('e.version_id', '=', m.version.id)
    .orderBy('e.at')
    .execute();
  const approvals = await db
    .selectFrom('model_approvals')
    .select(['alias', 'approver', 'at'])
    .where('version_id', '=', m.version.id)
    .orderBy('at')
    .execute();
  const files = await db
    .selectFrom('dataset_versions as v')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['d.name', 'v.number'])
    .where('v.id', '=', m.version.files_version_id)
    .executeTakeFirst();
  return {
    ref: m.ref,
    digest: `sha256:${m.version.digest}`,
    files: files ? `${files.name}@v${files.number}` : null,
    format: m.version.format,
    run: m.version.run_id,
    created: m.version.created_at,
    by: m.version.created_by,
    authors: await authorsOf(deps, m.version),
    aliases: aliases.map((a) => a.alias),
    signature: m.version.signature ? JSON.parse(m.version.signature) : null,
    metrics: (JSON.parse(m.version.card) as ModelCard).metrics,
    evaluations: evaluations.map((e) => ({
      suite: e.suite,
      passed: Boolean(e.passed),
      at: e.at,
      by: e.by,
      imported: e.origin ? { origin: e.origin, author: e.author ?? '?', importedBy: e.imported_by ?? '?' } : null,
    })),
    approvals,
  };
}

/** The card stored at registration, with the evaluations as they stand now (verdicts come after registration). */
export async function cardOf(deps: Pick<DatasetDeps, 'meta'>, ref: string): Promise<ModelCard> {
  const m = await resolveModel(deps, ref);
  const c = JSON.parse(m.version.card) as ModelCard;
  const evals = await deps.meta.db
    .selectFrom('model_evaluations')
    .select(['suite', 'passed', 'report', 'at'])
    .where('version_id', '=', m.version.id)
    .orderBy('at')
    .execute();
  c.evaluations = evals.map((e) => ({
    suite: e.suite,
    passed: Boolean(e.passed),
    data: (JSON.parse(e.report) as { data?: string }).data ?? null,
    at: e.at,
  }));
  return c;
}
