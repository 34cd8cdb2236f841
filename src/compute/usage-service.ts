import { listProjects, setProject, type ProjectSettings, type ProjectView } from './projects.js';
import type { RunDeps } from './runs/deps.js';
import { syncRuns } from './runs/sync.js';
import { usageReport, type UsageRow } from './usage.js';

export interface UsageReport {
  currency: string;
  rows: UsageRow[];
  total: UsageRow;
}

/** What `cairn compute …` (and a team server) can ask: usage and cost, projects' quotas and budgets. */
export interface ComputeUsageService {
  /** GPU-hours, cost, idle and saved GPU-hours by project, user or run (runs brought up to date first). */
  usage(opts: { by: 'project' | 'user' | 'run'; since?: Date }): Promise<UsageReport>;
  setProject(name: string, settings: ProjectSettings): Promise<ProjectView>;
  projects(): Promise<ProjectView[]>;
}

export function createComputeUsageService(deps: RunDeps): ComputeUsageService {
  return {
    async usage(opts) {
      await syncRuns(deps);
      return usageReport(deps, opts);
    },
    setProject: (name, settings) => setProject(deps, name, settings),
    projects: () => listProjects(deps),
  };
}
