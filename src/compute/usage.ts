import type { RunDeps } from './runs/deps.js';
import { periodStart, type Period } from './runs/quota.js';

export interface UsageRow {
  key: string;
  runs: number;
  gpuHours: number;
  cost: number;
  /** GPU-hours under 5 % utilization, from samples; null when no run had samples (never guessed). */
  idleGpuHours: number | null;
  /** GPU-hours the reused runs would have cost (cache hits). */
  savedGpuHours: number;
  cpuHours: number;
}

/** One group's usage in one period (a run counts in the period it was created in). */
export interface UsagePoint extends UsageRow {
  /** The period's first day (UTC), `2026-12-01`. */
  period: string;
}

/**
 * GPU-hours, cost, idle GPU-hours and the GPU-hours cache hits saved, grouped by project,
 * user or run, for runs created since `since`; with `interval`, also each group's figures per
 * day, week (from Monday) or month, the budget periods (`series`, oldest first).
 */
export async function usageReport(
  deps: Pick<RunDeps, 'meta' | 'compute'>,
  opts: { by: 'project' | 'user' | 'run'; since?: Date; interval?: Period; projects?: readonly string[] },
): Promise<{ currency: string; rows: UsageRow[]; total: UsageRow; series?: UsagePoint[] }> {
  const cfg = deps.compute.config;
  let q = deps.meta.db.selectFrom('runs').selectAll();
  if (opts.since) q = q.where('created_at', '>=', opts.since.toISOString());
  if (opts.projects) q = q.where('project', 'in', opts.projects.length ? [...opts.projects] : ['']);
  const runs = await q.execute();
  const byId = new Map(
    (await deps.meta.db.selectFrom('runs').select(['id', 'gpus', 'started_at', 'ended_at']).execute()).map((r) => [
      r.id,
      r,
    ]),
  );
  const groups = new Map<string, UsageRow>();
  const total = emptyRow('total');
  const points = new Map<string, UsagePoint>();
  const empty = emptyRow;
  for (const r of runs) {
    const key = opts.by === 'project' ? r.project : opts.by === 'user' ? r.created_by : `${r.name} ${r.id}`;
    const g = groups.get(key) ?? empty(key);
    groups.set(key, g);
    const into: UsageRow[] = [g, total];
    if (opts.interval) {
      const period = periodStart(opts.interval, new Date(r.created_at)).toISOString().slice(0, 10);
      const at = `${period} ${key}`;
      const p = points.get(at) ?? { period, ...empty(key) };
      points.set(at, p);
      into.push(p);
    }
    const usage = JSON.parse(r.usage) as {
      gpuSeconds?: number;
      idleGpuSeconds?: number | null;
      cpuSeconds?: number | null;
    };
    let gpuH = (usage.gpuSeconds ?? 0) / 3600;
    if (r.status === 'running' && r.started_at) gpuH = (r.gpus * (Date.now() - Date.parse(r.started_at))) / 3600_000;
    let saved = 0;
    if (r.status === 'reused' && r.reused_from) {
      const src = byId.get(r.reused_from);
      if (src?.started_at && src.ended_at)
        saved = (src.gpus * (Date.parse(src.ended_at) - Date.parse(src.started_at))) / 3600_000;
    }
    const price = r.backend === 'slurm' ? cfg.prices.slurm : cfg.prices.local;
    for (const t of into) {
      t.runs++;
      t.gpuHours += gpuH;
      t.cost += gpuH * price;
      t.savedGpuHours += saved;
      t.cpuHours += (usage.cpuSeconds ?? 0) / 3600;
      if (typeof usage.idleGpuSeconds === 'number')
        t.idleGpuHours = (t.idleGpuHours ?? 0) + usage.idleGpuSeconds / 3600;
    }
  }
  return {
    currency: cfg.currency,
    rows: [...groups.values()].sort((a, b) => b.gpuHours - a.gpuHours || (a.key < b.key ? -1 : 1)).map(round),
    total: round(total),
    ...(opts.interval
      ? {
          series: [...points.values()]
            .sort((a, b) => (a.period < b.period ? -1 : a.period > b.period ? 1 : a.key < b.key ? -1 : 1))
            .map(round),
        }
      : {}),
  };
}

function emptyRow(key: string): UsageRow {
  return { key, runs: 0, gpuHours: 0, cost: 0, idleGpuHours: null, savedGpuHours: 0, cpuHours: 0 };
}

function round<T extends UsageRow>(u: T): T {
  return {
    ...u,
    gpuHours: r4(u.gpuHours),
    cost: r4(u.cost),
    idleGpuHours: u.idleGpuHours === null ? null : r4(u.idleGpuHours),
    savedGpuHours: r4(u.savedGpuHours),
    cpuHours: r4(u.cpuHours),
  };
}

function r4(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
