import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import { sha256Hex } from '../../../core/digest.js';
import { metricsDigest, paramsDigest, type RecordedParam, type RecordedPoint } from '../../../core/record-digest.js';
import type { Database } from '../../../meta/schema.js';
import type { VersionCheck } from './reconcile-datasets.js';
import type { StateRows } from './state-rows.js';

const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/**
 * Reads every row the log vouches for except the dataset versions (see readDatasetVersions),
 * joined to the names and numbers events use. Call it with the handle of the snapshot the log
 * entries were read in, so rows and events agree about what was committed.
 */
export async function readStateRows(db: Kysely<Database>): Promise<Omit<StateRows, 'datasetVersions'>> {
  return {
    ...(await readTagAndModelRows(db)),
    ...(await readAliasRows(db)),
    ...(await readOutcomeRows(db)),
    ...(await readIdentityRows(db)),
    holds: await readHoldRows(db),
  };
}

/** Legal holds and retention periods, on the `name@vN` their events name. */
async function readHoldRows(db: Kysely<Database>): Promise<NonNullable<StateRows['holds']>> {
  const rows = await db
    .selectFrom('version_holds as h')
    .leftJoin('dataset_versions as v', 'v.id', 'h.version_id')
    .leftJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['h.id', 'd.name', 'v.number', 'h.kind', 'h.retain_until', 'h.reason', 'h.released_at'])
    .execute();
  return rows.map((h) => ({
    id: h.id,
    version: `${h.name ?? '?'}@v${num(h.number) ?? '?'}`,
    kind: h.kind,
    until: h.retain_until,
    reasonDigest: sha256Hex(h.reason),
    released: h.released_at !== null,
  }));
}

/** A team server's accounts, grants and tokens (a workspace has none). */
async function readIdentityRows(db: Kysely<Database>) {
  const accounts = await db.selectFrom('principals').select(['name', 'kind', 'groups', 'disabled_at']).execute();
  const grants = await db.selectFrom('role_grants').select(['subject', 'project', 'role']).execute();
  const tokens = await db
    .selectFrom('api_tokens as t')
    .leftJoin('principals as p', 'p.id', 't.principal_id')
    .select(['t.id', 'p.name', 't.expires_at', 't.revoked_at', 't.secret_hash'])
    .execute();
  return {
    accounts: accounts.map((a) => ({ name: a.name, kind: a.kind, groups: a.groups, disabled: a.disabled_at !== null })),
    grants,
    // A token whose account row is gone names nobody: no event can have issued it so.
    tokens: tokens.map((t) => ({
      id: t.id,
      user: t.name ?? '?',
      expires: t.expires_at,
      revoked: t.revoked_at !== null,
      secretCheck: sha256Hex(t.secret_hash),
    })),
  };
}

/** Dataset tags and model versions. */
async function readTagAndModelRows(db: Kysely<Database>) {
  const datasetTags = await db
    .selectFrom('dataset_tags as t')
    .innerJoin('datasets as d', 'd.id', 't.dataset_id')
    .leftJoin('dataset_versions as v', 'v.id', 't.version_id')
    .select(['d.name as dataset', 't.tag', 'v.number', 'v.digest'])
    .execute();
  const modelVersions = await db
    .selectFrom('model_versions as mv')
    .innerJoin('models as m', 'm.id', 'mv.model_id')
    .leftJoin('dataset_versions as f', 'f.id', 'mv.files_version_id')
    .select(['m.name', 'mv.number', 'mv.digest', 'mv.created_by', 'mv.run_id', 'mv.format', 'f.digest as files_digest'])
    .execute();
  return {
    datasetTags: datasetTags as StateRows['datasetTags'],
    modelVersions: modelVersions.map((r) => ({
      model: r.name,
      number: Number(r.number),
      digest: r.digest,
      author: r.created_by,
      run: r.run_id,
      format: r.format,
      filesDigest: r.files_digest ?? null,
    })),
  };
}

/** Aliases, their history, approvals and policies. */
async function readAliasRows(db: Kysely<Database>) {
  const aliases = await db
    .selectFrom('model_aliases as a')
    .innerJoin('models as m', 'm.id', 'a.model_id')
    .leftJoin('model_versions as v', 'v.id', 'a.version_id')
    .select(['m.name', 'a.alias', 'a.version_id', 'v.number', 'v.digest'])
    .execute();
  const aliasHistory = await db
    .selectFrom('model_alias_events as h')
    .innerJoin('models as m', 'm.id', 'h.model_id')
    .leftJoin('model_versions as v', 'v.id', 'h.version_id')
    .select(['m.name', 'h.alias', 'h.version_id', 'v.number', 'v.digest'])
    .orderBy('h.at')
    .orderBy('h.id')
    .execute();
  const approvals = await db
    .selectFrom('model_approvals as ap')
    .leftJoin('model_versions as v', 'v.id', 'ap.version_id')
    .leftJoin('models as m', 'm.id', 'v.model_id')
    .select(['m.name', 'v.number', 'ap.alias', 'ap.approver'])
    .execute();
  const policies = await db
    .selectFrom('model_policies as p')
    .innerJoin('models as m', 'm.id', 'p.model_id')
    .select(['m.name', 'p.alias', 'p.policy'])
    .execute();
  return {
    aliases: aliases.map((r) => ({
      model: r.name,
      alias: r.alias,
      versionId: r.version_id,
      number: num(r.number),
      digest: r.digest ?? null,
    })),
    aliasHistory: aliasHistory.map((r) => ({
      model: r.name,
      alias: r.alias,
      versionId: r.version_id,
      number: num(r.number),
      digest: r.digest ?? null,
    })),
    approvals: approvals.map((r) => ({
      model: r.name ?? '?',
      number: num(r.number),
      alias: r.alias,
      approver: r.approver,
    })),
    policies: policies.map((r) => ({ model: r.name, alias: r.alias, policy: r.policy })),
  };
}

/** Evaluations, deployments, runs and release records. */
async function readOutcomeRows(db: Kysely<Database>) {
  const evaluations = await db
    .selectFrom('model_evaluations as e')
    .leftJoin('model_versions as v', 'v.id', 'e.version_id')
    .leftJoin('models as m', 'm.id', 'v.model_id')
    .select(['e.id', 'm.name', 'v.number', 'e.suite', 'e.suite_digest', 'e.passed', 'e.report'])
    .execute();
  const deployments = await db
    .selectFrom('deployments as d')
    .innerJoin('models as m', 'm.id', 'd.model_id')
    .leftJoin('model_versions as v', 'v.id', 'd.version_id')
    .select(['d.id', 'm.name', 'v.number', 'v.digest', 'd.env', 'd.alias', 'd.status', 'd.by'])
    .execute();
  const runs = await readRunRows(db);
  const releases = await db
    .selectFrom('lineage_edges as e')
    .leftJoin('model_versions as v', 'v.id', 'e.src_id')
    .leftJoin('models as m', 'm.id', 'v.model_id')
    .select(['m.name', 'v.number', 'e.dst_id'])
    .where('e.relation', '=', 'released')
    .where('e.src_type', '=', 'model_version')
    .execute();
  return {
    evaluations: evaluations.map((r) => ({
      id: r.id,
      model: r.name ?? '?',
      number: num(r.number),
      suite: r.suite,
      suiteDigest: r.suite_digest,
      passed: Number(r.passed) === 1,
      reportDigest: sha256Hex(r.report),
    })),
    deployments: deployments.map((r) => ({
      id: r.id,
      model: r.name,
      number: num(r.number),
      digest: r.digest ?? null,
      env: r.env,
      alias: r.alias,
      status: r.status,
      by: r.by,
    })),
    runs,
    releases: releases.map((r) => ({ model: r.name ?? '?', number: num(r.number), release: r.dst_id })),
  };
}

/**
 * Streams every dataset version, joined to its dataset's name, through `check`, in the same
 * snapshot as the log entries. On SQLite the raw handle of that connection iterates plain row
 * arrays (a workspace can hold millions of versions: the query builder's objects for all of
 * them cost more than the comparison); each dataset's name and expected versions are looked up
 * once, not per row. Rows whose dataset is gone are skipped, as the join would.
 */
export async function readDatasetVersions(
  db: Kysely<Database>,
  sqlite: BetterSqlite3.Database | undefined,
  check: VersionCheck,
): Promise<void> {
  if (!sqlite) {
    const rows = await db
      .selectFrom('dataset_versions as v')
      .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
      .select(['d.name as dataset', 'v.number', 'v.digest', 'v.author'])
      .execute();
    for (const r of rows) check.row(r.dataset, Number(r.number), r.digest, r.author);
    return;
  }
  const datasets = new Map<string, { name: string; slots: ReadonlyMap<number, number> | undefined }>();
  for (const [id, name] of sqlite.prepare('select id, name from datasets').raw(true).iterate() as Iterable<
    [string, string]
  >)
    datasets.set(id, { name, slots: check.slotsOf(name) });
  const stmt = sqlite.prepare('select dataset_id, number, digest, author from dataset_versions').raw(true);
  for (const [id, number, digest, author] of stmt.iterate() as Iterable<[string, number, string, string]>) {
    const d = datasets.get(id);
    if (d) check.rowIn(d.slots, d.name, number, digest, author);
  }
}

/** Runs joined to their output's digest and their import record (when they came by pull or push). */
async function readRunRows(db: Kysely<Database>): Promise<StateRows['runs']> {
  const rows = await db
    .selectFrom('runs as r')
    .leftJoin('dataset_versions as o', 'o.id', 'r.output_version_id')
    .leftJoin('run_imports as i', 'i.run_id', 'r.id')
    .select([
      'i.origin as imported_origin',
      'i.event_index as imported_index',
      'i.author as imported_author',
      'r.id',
      'r.run_key',
      'r.name',
      'r.project',
      'r.spec_digest',
      'r.created_by',
      'r.status',
      'r.output_version_id',
      'o.digest as output_digest',
      'r.reused_from',
      'r.human_name',
      'r.tags',
      'r.note',
    ])
    .execute();
  const records = await readRunRecords(
    db,
    rows.map((r) => r.id),
  );
  // A run whose output row is gone is reported with a digest no event can have recorded.
  return rows.map((r) => ({
    id: r.id,
    runKey: r.run_key,
    name: r.name,
    project: r.project,
    specDigest: r.spec_digest,
    author: r.created_by,
    status: r.status,
    outputDigest: r.output_version_id === null ? null : (r.output_digest ?? `missing:${r.output_version_id}`),
    reusedFrom: r.reused_from,
    humanName: r.human_name,
    tags: r.tags,
    note: r.note,
    imported:
      r.imported_origin === null
        ? null
        : { origin: r.imported_origin, index: Number(r.imported_index), author: r.imported_author ?? '' },
    record: records.get(r.id)!,
  }));
}

/** Runs whose points are read in one query: a query per run cost ten times the rest of the state read. */
const RUNS_PER_READ = 256;

/**
 * Each run's metric points and parameters as their digests (hex), as the event that ended it
 * logged them: read a batch of runs at a time (by the `run_id` index), so a workspace with
 * millions of points holds one batch's at a time.
 */
async function readRunRecords(db: Kysely<Database>, ids: readonly string[]): Promise<Map<string, RunRecordDigests>> {
  const out = new Map<string, RunRecordDigests>();
  for (let at = 0; at < ids.length; at += RUNS_PER_READ) {
    const batch = ids.slice(at, at + RUNS_PER_READ);
    const points = new Map<string, RecordedPoint[]>(batch.map((id) => [id, []]));
    const params = new Map<string, RecordedParam[]>(batch.map((id) => [id, []]));
    for (const p of await db
      .selectFrom('run_metrics')
      .select(['run_id', 'name', 'step', 'value', 'time'])
      .where('run_id', 'in', batch)
      .execute())
      points.get(p.run_id)?.push({
        name: p.name,
        step: p.step === null ? null : Number(p.step),
        value: Number(p.value),
        time: p.time,
      });
    for (const p of await db
      .selectFrom('run_params')
      .select(['run_id', 'name', 'value'])
      .where('run_id', 'in', batch)
      .execute())
      params.get(p.run_id)?.push({ name: p.name, value: p.value });
    for (const id of batch)
      out.set(id, {
        metricsDigest: metricsDigest(points.get(id)!).slice(7),
        paramsDigest: paramsDigest(params.get(id)!).slice(7),
      });
  }
  return out;
}

type RunRecordDigests = { metricsDigest: string; paramsDigest: string };
