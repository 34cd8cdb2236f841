import { sql, type RawBuilder } from 'kysely';
import { CairnError } from '../../../core/errors.js';
import type { RunDeps } from '../deps.js';
import { runImports, summary, type RunSummary } from '../queries.js';
import { gpuSeconds, type RunRow } from '../store.js';
import { fieldValue, neededNames, parseSort, RUN_FIELDS, type RunRecord, type SortKey } from './fields.js';
import { compareValues, filterFields, matches, parseFilter, type Scalar } from './filter.js';
import { planFilter, type RunSet } from './plan.js';
import { runSetSql } from './sql.js';

export interface FindOptions {
  project?: string;
  /** Only runs of these projects (a team server's reader sees the projects they hold a grant on). */
  projects?: readonly string[];
  status?: string;
  /** `metrics.acc > 0.9 and params.lr < 0.01` (filter.ts). */
  filter?: string;
  /** `-metrics.acc,params.lr`: `-` is descending; runs without the value come last. */
  sort?: string;
  /** Fields to show besides the run's own (`params.lr`, `metrics.acc.max`, `tags.team`). */
  columns?: string[];
  limit?: number;
  /** Matching runs to skip before the `limit` shown (a page of the web UI's run table). */
  offset?: number;
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
 * `cairn run ls`: runs filtered, sorted and cut to `limit`, with the columns asked for. With no
 * filter or an exactly planned one, and no sort or one by metrics only, the database orders and
 * cuts the page; otherwise every candidate run is read once with only the params and metric
 * summaries the expression names, then filtered and sorted here (bench/suites/runs.mjs).
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
  const offset = opts.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new CairnError('USAGE', `offset must be a whole number of runs, not ${String(opts.offset)}`);
  // A filter whose plan is exact and a sort by metrics leave nothing to do in memory: the
  // database orders, counts and cuts the page (a sort of 100,000 runs read whole took 1.6–2 s).
  const plan = filter ? planFilter(filter) : null;
  const order = metricOrder(sort);
  const inDb = (!filter || plan?.exact === true) && order !== null;
  const { rows, total } = await readRuns(deps.meta.db, opts, {
    columns: inDb ? LEAN : columnsFor(fields),
    set: plan?.set ?? null,
    page: inDb ? { order: order!, limit, offset } : null,
  });
  const recheck = filter !== null && !plan?.exact;
  // Every candidate's values are read only for what the recheck and the sort need; the columns
  // are read for the page shown alone.
  const ids = inDb || plan ? rows.map((r) => r.id) : null;
  const forAll = neededNames([...(recheck && filter ? filterFields(filter) : []), ...sort.map((s) => s.field)]);
  const [params, metrics] = await Promise.all([
    loadParams(deps.meta.db, inDb ? need.params : forAll.params, ids),
    loadMetrics(deps.meta.db, inDb ? need.metrics : forAll.metrics, ids),
  ]);
  const now = deps.clock.now().getTime();
  let recs = rows.map((r) => record(r, params.get(r.id) ?? {}, metrics.get(r.id) ?? {}, now));
  if (filter && recheck) recs = recs.filter((rec) => matches(filter, (f) => fieldValue(rec, f)));
  if (sort.length && !inDb) recs.sort((a, b) => bySort(sort, a, b));
  let shown = inDb ? recs : recs.slice(offset, offset + limit);
  if (!inDb && columns.length) {
    const pageIds = shown.map((r) => r.base.id as string);
    const cols = neededNames(columns);
    const [p, m] = await Promise.all([
      loadParams(deps.meta.db, cols.params, pageIds),
      loadMetrics(deps.meta.db, cols.metrics, pageIds),
    ]);
    shown = shown.map((rec) => {
      const id = rec.base.id as string;
      return { ...rec, params: { ...rec.params, ...p.get(id) }, metrics: { ...rec.metrics, ...m.get(id) } };
    });
  }
  const full = new Map<string, RunRow>();
  const shownIds = shown.map((r) => r.base.id as string);
  for (let i = 0; i < shownIds.length; i += 500)
    for (const r of await deps.meta.db
      .selectFrom('runs')
      .selectAll()
      .where('id', 'in', shownIds.slice(i, i + 500))
      .execute())
      full.set(r.id, r);
  const imports = await runImports(deps.meta.db, shownIds);
  return {
    columns,
    matched: total ?? recs.length,
    runs: shown.map((rec) => ({
      ...summary(full.get(rec.base.id as string)!, imports.get(rec.base.id as string) ?? null),
      values: Object.fromEntries(columns.map((c) => [c, fieldValue(rec, c) ?? null])),
    })),
  };
}

/**
 * The runs a listing starts from. A filter on params and metrics is answered from their indexes
 * first: only the runs that can match are read (a few thousand of 100,000). With `page`, the
 * database orders, cuts and counts the page; without, every candidate is read, newest first.
 */
async function readRuns(
  db: Db,
  opts: FindOptions,
  how: {
    columns: readonly LeanColumn[];
    set: RunSet | null;
    page: { order: RawBuilder<unknown>[]; limit: number; offset: number } | null;
  },
) {
  // Only the columns a field reads: a run's spec and usage (kilobytes each) are read for the runs shown.
  let q = db.selectFrom('runs').select(how.columns as LeanColumn[]);
  for (const o of how.page?.order ?? []) q = q.orderBy(o);
  q = q.orderBy('created_at', 'desc').orderBy('id', 'desc');
  if (opts.project) q = q.where('project', '=', opts.project);
  if (opts.projects) q = q.where('project', 'in', inList(opts.projects));
  if (opts.status) q = q.where('status', '=', opts.status);
  const set = how.set;
  if (set) q = q.where(sql<boolean>`id in (${runSetSql(set)})`);
  const page = how.page;
  if (!page) return { rows: await q.execute(), total: null };
  q = q.limit(page.limit).offset(page.offset);
  if (!set) return { rows: await q.execute(), total: await countRuns(db, opts) };
  // A planned filter's matches are counted in the page's query (a second query would compute
  // the run set again); only a page past the end needs the count asked on its own.
  const rows = await q.select(sql<unknown>`count(*) over ()`.as('matched')).execute();
  const total = rows.length ? Number(rows[0]!.matched) : page.offset > 0 ? await countRuns(db, opts, set) : 0;
  return { rows, total };
}

async function countRuns(db: Db, opts: FindOptions, set?: RunSet): Promise<number> {
  let q = db.selectFrom('runs').select((eb) => eb.fn.countAll().as('n'));
  if (opts.project) q = q.where('project', '=', opts.project);
  if (opts.projects) q = q.where('project', 'in', inList(opts.projects));
  if (opts.status) q = q.where('status', '=', opts.status);
  if (set) q = q.where(sql<boolean>`id in (${runSetSql(set)})`);
  const row = await q.executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The columns of a run its fields are made of. */
const LEAN = [
  'id',
  'human_name',
  'name',
  'project',
  'status',
  'backend',
  'gpus',
  'created_at',
  'started_at',
  'ended_at',
  'exit_code',
  'note',
  'tags',
] as const;
type LeanColumn = (typeof LEAN)[number];
type LeanRow = Pick<RunRow, 'id' | 'created_at'> & Partial<Pick<RunRow, LeanColumn>>;

/** The columns each run field is made of. */
const FIELD_COLUMNS: Record<string, readonly LeanColumn[]> = {
  name: ['human_name'],
  spec: ['name'],
  project: ['project'],
  status: ['status'],
  backend: ['backend'],
  gpus: ['gpus'],
  started: ['started_at'],
  ended: ['ended_at'],
  duration: ['started_at', 'ended_at', 'status'],
  gpuHours: ['gpus', 'started_at', 'ended_at'],
  exit: ['exit_code'],
  note: ['note'],
};

/** The columns a filter, sort and columns read: with 10,000 runs, every column left out counts. */
function columnsFor(fields: readonly string[]): LeanColumn[] {
  const cols = new Set<LeanColumn>(['id', 'created_at']);
  for (const f of fields) {
    if (f.startsWith('tags.')) cols.add('tags');
    for (const c of FIELD_COLUMNS[f] ?? []) cols.add(c);
  }
  return [...cols];
}

const STAT_COLUMN = { last: 'last_value', min: 'min_value', max: 'max_value', points: 'points' } as const;

/**
 * A sort by metrics as ORDER BY terms, or null where some key is not a metric (params mix
 * numbers and text, whose order only the in-memory pass defines). Each term is the value
 * fieldValue reads: `metrics.acc.max` is the last value of a metric named `acc.max` where the
 * run has one, else the max of `acc`; a run without it comes last either way. Metric values are
 * finite numbers, so the engines' order is the in-memory one; ties fall to the newest first.
 */
export function metricOrder(keys: readonly SortKey[]): RawBuilder<unknown>[] | null {
  const out: RawBuilder<unknown>[] = [];
  for (const k of keys) {
    if (!k.field.startsWith('metrics.') || k.field.length <= 8) return null;
    const name = k.field.slice(8);
    const of = (col: string, n: string) =>
      sql`(select ${sql.ref(col)} from run_metric_summaries s where s.run_id = runs.id and s.name = ${n})`;
    let value = of('last_value', name);
    const dot = name.lastIndexOf('.');
    const stat = name.slice(dot + 1);
    if (dot > 0 && Object.hasOwn(STAT_COLUMN, stat))
      value = sql`coalesce(${value}, ${of(STAT_COLUMN[stat as keyof typeof STAT_COLUMN], name.slice(0, dot))})`;
    // Numbers for both engines (points is bigint on PostgreSQL, a double elsewhere).
    value = sql`cast(${value} as double precision)`;
    out.push(k.desc ? sql`${value} desc nulls last` : sql`${value} asc nulls last`);
  }
  return out;
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
  r: LeanRow,
  params: Record<string, unknown>,
  metrics: RunRecord['metrics'],
  nowMs: number,
): RunRecord {
  const start = r.started_at ? Date.parse(r.started_at) : null;
  const end = r.ended_at ? Date.parse(r.ended_at) : ['running', 'pending'].includes(r.status ?? '') ? nowMs : null;
  return {
    base: {
      id: r.id,
      name: r.human_name ?? null,
      spec: r.name ?? null,
      project: r.project ?? null,
      status: r.status ?? null,
      backend: r.backend ?? null,
      gpus: r.gpus ?? null,
      created: r.created_at,
      started: r.started_at ?? null,
      ended: r.ended_at ?? null,
      duration: start !== null && end !== null ? (end - start) / 1000 : null,
      gpuHours:
        r.gpus === undefined
          ? null
          : gpuSeconds({ gpus: r.gpus, started_at: r.started_at ?? null, ended_at: r.ended_at ?? null }) / 3600,
      exit: r.exit_code ?? null,
      note: r.note ?? null,
    },
    tags: r.tags === undefined || r.tags === '{}' ? {} : (JSON.parse(r.tags) as Record<string, string>),
    params,
    metrics,
  };
}

async function loadParams(db: Db, names: Set<string>, ids: string[] | null) {
  const out = new Map<string, Record<string, unknown>>();
  if (!names.size || ids?.length === 0) return out;
  const q = db
    .selectFrom('run_params')
    .select(['run_id', 'name', 'value'])
    .where('name', 'in', [...names]);
  for (const p of await inChunks(ids, (chunk) => (chunk ? q.where('run_id', 'in', chunk) : q).execute())) {
    let m = out.get(p.run_id);
    if (!m) out.set(p.run_id, (m = {}));
    m[p.name] = JSON.parse(p.value);
  }
  return out;
}

async function loadMetrics(db: Db, names: Set<string>, ids: string[] | null) {
  const out = new Map<string, RunRecord['metrics']>();
  if (!names.size || ids?.length === 0) return out;
  const q = db
    .selectFrom('run_metric_summaries')
    .select(['run_id', 'name', 'last_value', 'min_value', 'max_value', 'points'])
    .where('name', 'in', [...names]);
  for (const s of await inChunks(ids, (chunk) => (chunk ? q.where('run_id', 'in', chunk) : q).execute())) {
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

/** Ids bound in chunks (SQLite and PostgreSQL cap the parameters of one statement); null reads all. */
async function inChunks<T>(ids: string[] | null, read: (chunk: string[] | null) => Promise<T[]>): Promise<T[]> {
  if (!ids) return read(null);
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += 5000) out.push(...(await read(ids.slice(i, i + 5000))));
  return out;
}

/**
 * A project list for `in (…)`: SQL has no empty list, and no project is named '' (an empty
 * list then matches nothing, as it should).
 */
export function inList(projects: readonly string[]): string[] {
  return projects.length ? [...projects] : [''];
}
