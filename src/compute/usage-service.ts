import { listProjects, setProject, type ProjectSettings, type ProjectView } from './projects.js';
import type { RunDeps } from './runs/deps.js';
import { gpuHoursCommitted, periodStart, type Period } from './runs/quota.js';
import { syncRuns } from './runs/sync.js';
import { usageReport, type UsagePoint, type UsageRow } from './usage.js';

export interface UsageReport {
  currency: string;
  rows: UsageRow[];
  total: UsageRow;
  series?: UsagePoint[];
}

/** A project's budget and how much of it this period has used or committed (the budget check's figure). */
export interface BudgetBurn extends ProjectView {
  periodStart: string;
  /** GPU-hours used or committed since `periodStart`: ended runs by real time, running and queued by their limit. */
  usedGpuHours: number;
}

/** What `cairn compute …` (and a team server) can ask: usage and cost, projects' quotas and budgets. */
export interface ComputeUsageService {
  /** GPU-hours, cost, idle and saved GPU-hours by project, user or run (runs brought up to date first). */
  usage(opts: {
    by: 'project' | 'user' | 'run';
    since?: Date;
    interval?: Period;
    /** Only the runs of these projects (a team server's reader's). */
    projects?: readonly string[];
  }): Promise<UsageReport>;
  setProject(name: string, settings: ProjectSettings): Promise<ProjectView>;
  projects(): Promise<ProjectView[]>;
  /** Projects with a GPU-hour budget, each with this period's burn. */
  budgets(): Promise<BudgetBurn[]>;
}

export function createComputeUsageService(deps: RunDeps): ComputeUsageService {
  return {
    async usage(opts) {
      await syncRuns(deps);
      return usageReport(deps, opts);
    },
    setProject: (name, settings) => setProject(deps, name, settings),
    projects: () => listProjects(deps),
    async budgets() {
      await syncRuns(deps);
      const now = deps.clock.now();
      const out: BudgetBurn[] = [];
      for (const p of await listProjects(deps)) {
        if (p.budgetGpuHours === null) continue;
        const since = periodStart(p.period as Period, now);
        const used = await gpuHoursCommitted(deps.meta.db, p.name, since, now);
        out.push({ ...p, periodStart: since.toISOString(), usedGpuHours: Math.round(used * 1e4) / 1e4 });
      }
      return out;
    },
  };
}
