import type { RunDeps } from '../deps.js';

type Db = RunDeps['meta']['db'];

/** The distinct param and metric names of a project's runs (or every run), sorted. */
export async function runFields(db: Db, project?: string): Promise<{ params: string[]; metrics: string[] }> {
  let p = db.selectFrom('run_params').select('run_params.name').distinct();
  let m = db.selectFrom('run_metric_summaries').select('run_metric_summaries.name').distinct();
  if (project) {
    p = p.innerJoin('runs', 'runs.id', 'run_params.run_id').where('runs.project', '=', project);
    m = m.innerJoin('runs', 'runs.id', 'run_metric_summaries.run_id').where('runs.project', '=', project);
  }
  const [params, metrics] = await Promise.all([p.execute(), m.execute()]);
  const sorted = (rows: Array<{ name: string }>) => rows.map((r) => r.name).sort();
  return { params: sorted(params), metrics: sorted(metrics) };
}
