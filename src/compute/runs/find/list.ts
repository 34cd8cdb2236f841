import { CairnError } from '../../../core/errors.js';
import type { RunDeps } from '../deps.js';
import { summary, type RunSummary } from '../queries.js';
import { gpuSeconds, type RunRow } from '../store.js';
import { fieldValue, neededNames, parseSort, RUN_FIELDS, type RunRecord, type SortKey } from './fields.js';
import { compareValues, filterFields, matches, parseFilter, type Scalar } from './filter.js';

export interface FindOptions {
  project?: string;
  status?: string;
  /** `metrics.acc > 0.9 and params.lr < 0.01` (filter.ts). */
  filter?: string;
  /** `-metrics.acc,params.lr`: `-` is descending; runs without the value come last. */
  sort?: string;
  /** Fields to show besides the run's own (`params.lr`, `metrics.acc.max`, `tags.team`). */
  columns?: string[];
  limit?: number;
}

export interface ListedRun extends RunSummary {
  /** The value of each asked-for column (null where the run has none). */
  values: Record<string, Scalar>;
}

export interface RunListing {
  columns: string[];
  /** Runs that passed the filter, before --limit. */
  matched: number;
  runs: ListedRun[];
}

type Db = RunDeps['meta']['db'];

/**
 * `cairn run ls`: runs filtered, sorted and cut to `limit`, with the columns asked for. Without
 * a filter or a sort the database does the cutting (newest first); with one, every run of the
 * project/status is read once with only the params and metric summaries the expression names,
 * then filtered and sorted here: 10,000 runs take a few tens of milliseconds (bench/suites/runs.mjs).
 */
export async function findRuns(deps: Pick<RunDeps, 'meta' | 'clock'>, opts: FindOptions = {}): Promise<RunListing> {
  const filter = opts.filter?.trim() ? parseFilter(opts.filter) : null;
  const sort = opts.sort ? parseSort(opts.sort) : [];
  const columns = opts.columns ?? [];
  const fields = [...(filter ? filterFields(filter) : []), ...sort.map((s) => s.field), ...columns];
  const need = neededNames(fields);
  if (need.bad.length)
    throw new CairnError('USAGE', `unknown run field ${JSON.stringify(need.bad[0])}`, {
      hint: `use ${RUN_FIELDS.join(', ')}, params.<name>, metrics.<name>[.min|.max|.last|.points] or tags.<key>`,
      data: { fields: need.bad },
    });
  const limit = opts.limit ?? 50;
  const inDb = !filter && sort.length === 0;
  let q = deps.meta.db.selectFrom('runs').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc');
  if (opts.project) q = q.where('project', '=', opts.project);
  if (opts.status) q = q.where('status', '=', opts.status);
  if (inDb) q = q.limit(limit);
  const rows = await q.execute();
  const ids = inDb ? rows.map((r) => r.id) : null;
  const [params, metrics] = await Promise.all([
    loadParams(deps.meta.db, need.params, ids),
    loadMetrics(deps.meta.db, need.metrics, ids),
  ]);
  const now = deps.clock.now().getTime();
  let recs = rows.map((r) => ({ row: r, rec: record(r, params.get(r.id) ?? {}, metrics.get(r.id) ?? {}, now) }));
  if (filter) recs = recs.filter((x) => matches(filter, (f) => fieldValue(x.rec, f)));
  if (sort.length) recs.sort((a, b) => bySort(sort, a.rec, b.rec));
  const matched = recs.length;
  return {
    columns,
    matched,
    runs: recs.slice(0, limit).map(({ row, rec }) => ({
      ...summary(row),
      values: Object.fromEntries(columns.map((c) => [c, fieldValue(rec, c) ?? null])),
    })),
  };
}

function bySort(keys: SortKey[], a: RunRecord, b: RunRecord): number {
  for (const k of keys) {
    const x = fieldValue(a, k.field);
    const y = fieldValue(b, k.field);
    const xm = x === undefined || x === null;
    const ym = y === undefined || y === null;
    if (xm || ym) {
      if (xm !== ym) return xm ? 1 : -1;
      continue;
    }
    const c = compareValues(x, y) ?? (typeof x === 'number' ? -1 : typeof y === 'number' ? 1 : 0);
    if (c !== 0) return k.desc ? -c : c;
  }
  return 0;
}

export function record(
  r: RunRow,
  params: Record<string, unknown>,
  metrics: RunRecord['metrics'],
  nowMs: number,
): RunRecord {
  const start = r.started_at ? Date.parse(r.started_at) : null;
  const end = r.ended_at ? Date.parse(r.ended_at) : ['running', 'pending'].includes(r.status) ? nowMs : null;
  return {
    base: {
      id: r.id,
      name: r.human_name,
      spec: r.name,
      project: r.project,
      status: r.status,
      backend: r.backend,
      gpus: r.gpus,
      created: r.created_at,
      started: r.started_at,
      ended: r.ended_at,
      duration: start !== null && end !== null ? (end - start) / 1000 : null,
      gpuHours: gpuSeconds(r) / 3600,
      exit: r.exit_code,
      note: r.note,
    },
    tags: JSON.parse(r.tags) as Record<string, string>,
    params,
    metrics,
  };
}

async function loadParams(db: Db, names: Set<string>, ids: string[] | null) {
  const out = new Map<string, Record<string, unknown>>();
  if (!names.size || ids?.length === 0) return out;
  let q = db
    .selectFrom('run_params')
    .select(['run_id', 'name', 'value'])
    .where('name', 'in', [...names]);
  if (ids) q = q.where('run_id', 'in', ids);
  for (const p of await q.execute()) {
    let m = out.get(p.run_id);
    if (!m) out.set(p.run_id, (m = {}));
    m[p.name] = JSON.parse(p.value);
  }
  return out;
}

async function loadMetrics(db: Db, names: Set<string>, ids: string[] | null) {
  const out = new Map<string, RunRecord['metrics']>();
  if (!names.size || ids?.length === 0) return out;
  let q = db
    .selectFrom('run_metric_summaries')
    .select(['run_id', 'name', 'last_value', 'min_value', 'max_value', 'points'])
    .where('name', 'in', [...names]);
  if (ids) q = q.where('run_id', 'in', ids);
  for (const s of await q.execute()) {
    let m = out.get(s.run_id);
    if (!m) out.set(s.run_id, (m = {}));
    m[s.name] = {
      last: Number(s.last_value),
      min: Number(s.min_value),
      max: Number(s.max_value),
      points: Number(s.points),
    };
  }
  return out;
}
