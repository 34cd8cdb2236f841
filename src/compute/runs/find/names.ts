import type { RunDeps } from '../deps.js';

type Db = RunDeps['meta']['db'];

/** Names read one index seek at a time before a whole scan is cheaper (few names is the usual case). */
const SEEKS = 64;

/** The distinct param and metric names of a project's runs (or of some projects', or every run's), sorted. */
export async function runFields(
  db: Db,
  project?: string,
  projects?: readonly string[],
): Promise<{ params: string[]; metrics: string[] }> {
  const only = project ? [project] : projects ? (projects.length ? [...projects] : ['']) : null;
  if (!only) {
    const [params, metrics] = await Promise.all([
      distinctNames(db, 'run_params'),
      distinctNames(db, 'run_metric_summaries'),
    ]);
    return { params, metrics };
  }
  const p = db
    .selectFrom('run_params')
    .select('run_params.name')
    .distinct()
    .innerJoin('runs', 'runs.id', 'run_params.run_id')
    .where('runs.project', 'in', only);
  const m = db
    .selectFrom('run_metric_summaries')
    .select('run_metric_summaries.name')
    .distinct()
    .innerJoin('runs', 'runs.id', 'run_metric_summaries.run_id')
    .where('runs.project', 'in', only);
  const [params, metrics] = await Promise.all([p.execute(), m.execute()]);
  const sorted = (rows: Array<{ name: string }>) => rows.map((r) => r.name).sort();
  return { params: sorted(params), metrics: sorted(metrics) };
}

/**
 * A table's distinct names by skipping along its name-first index (run_params_name,
 * run_metric_summaries_name): one seek per name instead of a scan of every run's rows — with
 * 100,000 runs the scan is 500,000 index entries, and the run table asks on every visit.
 */
async function distinctNames(db: Db, table: 'run_params' | 'run_metric_summaries'): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < SEEKS; i++) {
    let q = db.selectFrom(table).select((eb) => eb.fn.min('name').as('name'));
    if (names.length) q = q.where('name', '>', names[names.length - 1]!);
    const row = await q.executeTakeFirst();
    if (row?.name === null || row?.name === undefined) return names.sort();
    names.push(row.name);
  }
  const rows = await db.selectFrom(table).select('name').distinct().execute();
  return rows.map((r) => r.name).sort();
}
