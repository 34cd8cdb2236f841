import type { Reason } from './store.js';
import type { ReadDb } from '../../meta/read-db.js';

export type Period = 'day' | 'week' | 'month';

/** Start of the budget period holding `now` (UTC): midnight, Monday, or the 1st. */
export function periodStart(period: Period, now: Date): Date {
  const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  if (period === 'week') d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  if (period === 'month') d.setUTCDate(1);
  return d;
}

/** A run over its project's concurrent-GPU quota waits: the reason says how far over. */
export async function quotaCheck(
  deps: { meta: { db: ReadDb } },
  project: string,
  gpus: number,
): Promise<Reason | null> {
  if (gpus === 0) return null;
  const p = await deps.meta.db.selectFrom('projects').selectAll().where('name', '=', project).executeTakeFirst();
  if (!p || p.gpu_quota === null) return null;
  const [row] = await deps.meta.db
    .selectFrom('runs')
    .select((eb) => eb.fn.sum<number>('gpus').as('n'))
    .where('project', '=', project)
    .where('status', 'in', ['pending', 'running'])
    .execute();
  const inUse = Number(row?.n ?? 0);
  if (inUse + gpus <= p.gpu_quota) return null;
  return {
    code: 'QUOTA',
    message: `project ${project} has ${inUse} of its ${p.gpu_quota} GPU(s) in use; this run needs ${gpus}`,
    project,
    quota: p.gpu_quota,
    inUse,
    requested: gpus,
  };
}

/**
 * GPU-hours a project has used or committed this period: ended runs by their real time,
 * running ones up to now, submitted or queued ones by their time limit.
 */
export async function gpuHoursCommitted(db: ReadDb, project: string, since: Date, now: Date): Promise<number> {
  const runs = await db
    .selectFrom('runs')
    .select(['status', 'gpus', 'started_at', 'ended_at', 'time_limit_s', 'created_at'])
    .where('project', '=', project)
    .where('gpus', '>', 0)
    .where('created_at', '>=', since.toISOString())
    // A run imported from a laptop's log spent that machine's time, not this ledger's (docs/REMOTES.md "Runs").
    .where('id', 'not in', db.selectFrom('run_imports').select('run_id'))
    .execute();
  let s = 0;
  for (const r of runs) {
    if (r.status === 'reused' || r.status === 'refused') continue;
    if (r.ended_at && r.started_at) s += (r.gpus * (Date.parse(r.ended_at) - Date.parse(r.started_at))) / 1000;
    else if (r.status === 'running' && r.started_at)
      s += r.gpus * Math.max(r.time_limit_s, (now.getTime() - Date.parse(r.started_at)) / 1000);
    else if (r.status === 'queued' || r.status === 'pending' || r.status === 'running') s += r.gpus * r.time_limit_s;
  }
  return s / 3600;
}

/** A run that could take its project past its budget is refused before it starts. */
export async function budgetCheck(
  deps: { meta: { db: ReadDb } },
  project: string,
  gpus: number,
  timeLimitS: number,
  now: Date,
): Promise<Reason | null> {
  if (gpus === 0) return null;
  const p = await deps.meta.db.selectFrom('projects').selectAll().where('name', '=', project).executeTakeFirst();
  if (!p || p.budget_gpu_hours === null) return null;
  if (timeLimitS <= 0)
    return {
      code: 'BUDGET',
      message: `project ${project} has a budget of ${p.budget_gpu_hours} GPU-hours per ${p.budget_period}: its GPU runs need a time limit (resources.time)`,
      project,
    };
  const used = await gpuHoursCommitted(deps.meta.db, project, periodStart(p.budget_period as Period, now), now);
  const wanted = (gpus * timeLimitS) / 3600;
  if (used + wanted <= p.budget_gpu_hours + 1e-9) return null;
  return {
    code: 'BUDGET',
    message: `project ${project} has used or committed ${round(used)} of its ${p.budget_gpu_hours} GPU-hours this ${p.budget_period}; this run may take ${round(wanted)} more`,
    project,
    budgetGpuHours: p.budget_gpu_hours,
    usedGpuHours: round(used),
    requestedGpuHours: round(wanted),
    period: p.budget_period,
  };
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
