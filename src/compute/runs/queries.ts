import { canonicalJson } from '../../core/canonical-json.js';
import type { RunDeps } from './deps.js';
import { compiledRead } from '../../meta/compiled-read.js';
import type { ReadDb } from '../../meta/read-db.js';
import { cacheHit, gpuSeconds, jobIdOf, readCodeFiles, type RunRow, type StoredSpec } from './store.js';
import { keyDifferences } from '../run-spec/run-key.js';
import { codeFileChanges } from '../code/changes.js';
import { metricSummaries } from '../metrics/read.js';
import type { PreparedRun } from './prepare.js';
import { budgetCheck, quotaCheck } from './quota.js';

export interface RunSummary {
  id: string;
  /** The spec's name (`train`); `humanName` is the run's own (`brave-otter-07`). */
  name: string;
  humanName: string | null;
  tags: Record<string, string>;
  note: string | null;
  project: string;
  status: string;
  backend: string;
  job: string | null;
  gpus: number;
  createdAt: string;
  startedAt: string | null;
  endedAt: string | null;
  exitCode: number | null;
  reason: unknown;
  runKey: string;
  reusedFrom: string | null;
  /** Set when the run came by pull or push from another workspace's log (docs/REMOTES.md "Runs"). */
  imported: RunImport | null;
}

/** Where an imported run was recorded and who brought it here. */
export interface RunImport {
  /** The log (its origin), its workspace and the index of the event that submitted the run there. */
  origin: string;
  workspace: string | null;
  index: number;
  /** Who submitted it there. */
  author: string;
  /** Who brought it here: on a team server the account that pushed it. */
  by: string;
  /** Whether its metrics and logged parameters were vouched for and came with it (false: only its submitted parameters). */
  record: boolean;
  at: string;
}

/** The import records of `ids` (those that have one), by run id. */
export async function runImports(db: RunDeps['meta']['db'], ids: readonly string[]): Promise<Map<string, RunImport>> {
  const out = new Map<string, RunImport>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db
      .selectFrom('run_imports')
      .selectAll()
      .where('run_id', 'in', ids.slice(i, i + 500))
      .execute();
    for (const r of rows)
      out.set(r.run_id, {
        origin: r.origin,
        workspace: r.workspace,
        index: Number(r.event_index),
        author: r.author,
        by: r.imported_by,
        record: Number(r.record_vouched) === 1,
        at: r.imported_at,
      });
  }
  return out;
}

export function summary(r: RunRow, imported: RunImport | null = null): RunSummary {
  return {
    id: r.id,
    name: r.name,
    humanName: r.human_name,
    tags: JSON.parse(r.tags) as Record<string, string>,
    note: r.note,
    project: r.project,
    status: r.status,
    backend: r.backend,
    job: jobIdOf(r),
    gpus: r.gpus,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    exitCode: r.exit_code,
    reason: r.reason ? JSON.parse(r.reason) : null,
    runKey: r.run_key,
    reusedFrom: r.reused_from,
    imported,
  };
}

/** `run ls` without filters (a team server's most asked listing), compiled once. */
const newestRuns = compiledRead((db: ReadDb, limit: number) =>
  db.selectFrom('runs').selectAll().orderBy('created_at', 'desc').limit(limit),
);

export async function listRuns(
  deps: RunDeps,
  opts: { project?: string; projects?: readonly string[]; status?: string; limit?: number } = {},
): Promise<RunSummary[]> {
  const limit = opts.limit ?? 50;
  let rows: RunRow[];
  if (!opts.project && !opts.projects && !opts.status) rows = await newestRuns(deps.meta.db, limit);
  else {
    let q = deps.meta.db.selectFrom('runs').selectAll().orderBy('created_at', 'desc').limit(limit);
    if (opts.project) q = q.where('project', '=', opts.project);
    if (opts.projects) q = q.where('project', 'in', opts.projects.length ? [...opts.projects] : ['']);
    if (opts.status) q = q.where('status', '=', opts.status);
    rows = await q.execute();
  }
  const imports = await runImports(
    deps.meta.db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => summary(r, imports.get(r.id) ?? null));
}

export interface RunDetails extends RunSummary {
  spec: StoredSpec;
  code: { commit: string | null; dirty: string | null };
  params: Record<string, unknown>;
  metrics: Array<{ name: string; points: number; last: number; lastStep: number | null; min: number; max: number }>;
  usage: unknown;
  output: string | null;
  dir: string;
  gpuHours: number;
}

export async function runDetails(deps: RunDeps, r: RunRow): Promise<RunDetails> {
  const params = Object.fromEntries(
    (
      await deps.meta.db
        .selectFrom('run_params')
        .select(['name', 'value'])
        .where('run_id', '=', r.id)
        .orderBy('name')
        .execute()
    ).map((p) => [p.name, JSON.parse(p.value)]),
  );
  // Summaries kept on ingest: a few rows however many points the run logged.
  const metrics = (await metricSummaries(deps.meta.db, r.id)).map((m) => ({
    name: m.name,
    points: m.points,
    last: m.last,
    lastStep: m.lastStep,
    min: m.min,
    max: m.max,
  }));
  let output: string | null = null;
  if (r.output_version_id) {
    const v = await deps.meta.db
      .selectFrom('dataset_versions as v')
      .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
      .select(['d.name', 'v.number'])
      .where('v.id', '=', r.output_version_id)
      .executeTakeFirst();
    if (v) output = `${v.name}@v${v.number}`;
  }
  const imported = (await runImports(deps.meta.db, [r.id])).get(r.id) ?? null;
  return {
    ...summary(r, imported),
    spec: JSON.parse(r.spec) as StoredSpec,
    code: { commit: r.code_commit, dirty: r.code_dirty },
    params,
    metrics,
    usage: JSON.parse(r.usage),
    output,
    dir: r.dir,
    gpuHours: gpuSeconds(r) / 3600,
  };
}

export interface RunPlan {
  runKey: string;
  /** Would `cairn run` reuse a finished run instead of executing? */
  cacheHit: { run: string; finishedAt: string | null; output: string | null } | null;
  /** When it would execute: what differs from the closest earlier run of the same name. */
  why: string[];
  backend: string;
  resources: PreparedRun['spec']['resources'];
  /** Would it wait (quota) or be refused (budget)? */
  quota: unknown;
  budget: unknown;
  inputs: Array<{ name: string; ref: string; digest: string }>;
}

/** What `cairn run` would do, decided before anything starts. */
export async function planRun(deps: RunDeps, p: PreparedRun, force = false): Promise<RunPlan> {
  const hit = force ? null : await cacheHit(deps, p.key, p.spec.project);
  let why: string[] = [];
  if (force) why = ['--force: runs even if an identical run finished'];
  else if (!hit) {
    const prev = await deps.meta.db
      .selectFrom('runs')
      .select(['id', 'spec', 'status', 'dir'])
      .where('name', '=', p.spec.name)
      // The closest earlier run of this project: another project's (and its id) is not the planner's to see.
      .where('project', '=', p.spec.project)
      .where('status', '=', 'completed')
      .orderBy('ended_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!prev) why = [`no finished run of ${p.spec.name} yet`];
    else {
      const stored = JSON.parse(prev.spec) as StoredSpec;
      const codeChanged = canonicalJson(stored.keyInput.code) !== canonicalJson(p.keyInput.code);
      const files = codeChanged
        ? codeFileChanges(
            p.codeDir,
            { commit: stored.keyInput.code.commit, files: readCodeFiles(prev.dir) },
            { commit: p.keyInput.code.commit, files: p.codeFiles },
          )
        : null;
      const d = keyDifferences(stored.keyInput, p.keyInput, files);
      why = d.length
        ? d.map((x) => `${x} (since run ${prev.id})`)
        : [`an identical run exists but has not finished (${canonicalJson(prev.status)})`];
    }
  }
  return {
    runKey: p.key,
    cacheHit: hit ? { run: hit.id, finishedAt: hit.ended_at, output: hit.output_version_id } : null,
    why,
    backend: p.spec.backend,
    resources: p.spec.resources,
    quota: hit ? null : await quotaCheck(deps, p.spec.project, p.spec.resources.gpus),
    budget: hit
      ? null
      : await budgetCheck(deps, p.spec.project, p.spec.resources.gpus, p.spec.resources.timeLimitS, deps.clock.now()),
    inputs: p.inputs.map((i) => ({ name: i.name, ref: i.ref, digest: `sha256:${i.digest}` })),
  };
}

/** A run's outputs as a dataset version (`runs/<spec name>@vN`) and the project of the run that wrote them. */
export interface RunOutput {
  run: string;
  project: string;
  dataset: string;
  version: number;
}

/**
 * The output versions of runs outside some projects: a run's outputs are kept as a dataset
 * version (in `default`'s namespace), but they are the run's project's to read.
 */
export async function runOutputs(deps: Pick<RunDeps, 'meta'>, exceptProjects: readonly string[]): Promise<RunOutput[]> {
  let q = deps.meta.db
    .selectFrom('runs as r')
    .innerJoin('dataset_versions as v', 'v.id', 'r.output_version_id')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['r.id as run', 'r.project', 'd.name as dataset', 'v.number as version']);
  if (exceptProjects.length) q = q.where('r.project', 'not in', [...exceptProjects]);
  return (await q.execute()).map((o) => ({ ...o, version: Number(o.version) }));
}
