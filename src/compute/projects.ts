import { CairnError } from '../core/errors.js';
import { isoUtc } from '../core/time.js';
import type { RunDeps } from './runs/deps.js';
import type { Period } from './runs/quota.js';

export interface ProjectSettings {
  gpuQuota?: number | null;
  budgetGpuHours?: number | null;
  period?: Period;
}

/** A project's limits, as `compute project ls` shows them. */
export interface ProjectView {
  name: string;
  gpuQuota: number | null;
  budgetGpuHours: number | null;
  period: string;
}

/** Creates or updates a project's GPU quota and budget (an audited change). */
export async function setProject(
  deps: Pick<RunDeps, 'meta' | 'audit' | 'clock'>,
  name: string,
  s: ProjectSettings,
): Promise<ProjectView> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name))
    throw new CairnError('INVALID_NAME', `${JSON.stringify(name)} is not a valid project name`);
  if (s.gpuQuota != null && (!Number.isInteger(s.gpuQuota) || s.gpuQuota < 0))
    throw new CairnError('USAGE', '--gpu-quota must be a whole number ≥ 0');
  if (s.budgetGpuHours != null && !(s.budgetGpuHours >= 0))
    throw new CairnError('USAGE', '--budget must be GPU-hours ≥ 0');
  const old = await deps.meta.db.selectFrom('projects').selectAll().where('name', '=', name).executeTakeFirst();
  const row = {
    name,
    gpu_quota: s.gpuQuota !== undefined ? s.gpuQuota : (old?.gpu_quota ?? null),
    budget_gpu_hours: s.budgetGpuHours !== undefined ? s.budgetGpuHours : (old?.budget_gpu_hours ?? null),
    budget_period: s.period ?? old?.budget_period ?? 'month',
    created_at: old?.created_at ?? isoUtc(deps.clock.now()),
  };
  await deps.audit.audited(
    {
      action: 'project.set',
      target: { type: 'project', name },
      params: { gpuQuota: row.gpu_quota, budgetGpuHours: row.budget_gpu_hours, period: row.budget_period },
    },
    async (commit) => {
      await commit(async (tx) => {
        await tx.db
          .insertInto('projects')
          .values(row)
          .onConflict((oc) =>
            oc.column('name').doUpdateSet({
              gpu_quota: row.gpu_quota,
              budget_gpu_hours: row.budget_gpu_hours,
              budget_period: row.budget_period,
            }),
          )
          .execute();
      });
    },
  );
  return { name, gpuQuota: row.gpu_quota, budgetGpuHours: row.budget_gpu_hours, period: row.budget_period };
}

export async function listProjects(deps: Pick<RunDeps, 'meta'>): Promise<ProjectView[]> {
  return (await deps.meta.db.selectFrom('projects').selectAll().orderBy('name').execute()).map((p) => ({
    name: p.name,
    gpuQuota: p.gpu_quota,
    budgetGpuHours: p.budget_gpu_hours,
    period: p.budget_period,
  }));
}
