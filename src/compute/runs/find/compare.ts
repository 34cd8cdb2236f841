import { canonicalJson } from '../../../core/canonical-json.js';
import { CairnError } from '../../../core/errors.js';
import type { RunDeps } from '../deps.js';
import { getRun, gpuSeconds } from '../store.js';
import { betterByName } from './better.js';

export interface CompareOptions {
  /** Metric names whose best is the lowest, besides those the name pattern catches. */
  lowerIsBetter?: string[];
  /** Metric names whose best is the highest (overrides the pattern). */
  higherIsBetter?: string[];
}

export interface RunComparison {
  runs: Array<{
    id: string;
    name: string | null;
    spec: string;
    status: string;
    createdAt: string;
    durationS: number | null;
    gpuHours: number;
    tags: Record<string, string>;
  }>;
  /** Every param any of the runs has; `differs` when the runs do not all agree. */
  params: Array<{ name: string; values: unknown[]; differs: boolean }>;
  /** Per metric: each run's last, min, max and best (null where a run did not log it), and which run is best. */
  metrics: Array<{
    name: string;
    better: 'higher' | 'lower';
    runs: Array<{ last: number; min: number; max: number; best: number; points: number } | null>;
    bestRun: string | null;
  }>;
}

/** `cairn run compare a b …`: a few indexed reads per run, whatever the number of runs recorded. */
export async function compareRuns(
  deps: Pick<RunDeps, 'meta'>,
  refs: readonly string[],
  opts: CompareOptions = {},
): Promise<RunComparison> {
  if (refs.length < 1) throw new CairnError('USAGE', 'run compare needs at least one run');
  const rows = [];
  for (const ref of refs) rows.push(await getRun(deps, ref));
  const ids = rows.map((r) => r.id);
  const params = await deps.meta.db.selectFrom('run_params').selectAll().where('run_id', 'in', ids).execute();
  const sums = await deps.meta.db.selectFrom('run_metric_summaries').selectAll().where('run_id', 'in', ids).execute();
  const paramNames = [...new Set(params.map((p) => p.name))].sort();
  const byRun = (id: string, name: string) => params.find((p) => p.run_id === id && p.name === name);
  const paramRows = paramNames.map((name) => {
    const values = ids.map((id) => {
      const p = byRun(id, name);
      return p ? (JSON.parse(p.value) as unknown) : null;
    });
    const keys = ids.map((id) => byRun(id, name)?.value ?? '\u0000absent');
    return { name, values, differs: new Set(keys.map((k) => canonicalJsonOf(k))).size > 1 };
  });
  const metricNames = [...new Set(sums.map((s) => s.name))].sort();
  const metrics = metricNames.map((name) => {
    const better = direction(name, opts);
    const perRun = ids.map((id) => {
      const s = sums.find((x) => x.run_id === id && x.name === name);
      if (!s) return null;
      const [min, max] = [Number(s.min_value), Number(s.max_value)];
      return { last: Number(s.last_value), min, max, best: better === 'lower' ? min : max, points: Number(s.points) };
    });
    let bestRun: string | null = null;
    let bestVal = 0;
    perRun.forEach((m, i) => {
      if (m && (bestRun === null || (better === 'lower' ? m.best < bestVal : m.best > bestVal))) {
        bestRun = ids[i]!;
        bestVal = m.best;
      }
    });
    return { name, better, runs: perRun, bestRun };
  });
  return {
    runs: rows.map((r) => ({
      id: r.id,
      name: r.human_name,
      spec: r.name,
      status: r.status,
      createdAt: r.created_at,
      durationS: r.started_at && r.ended_at ? (Date.parse(r.ended_at) - Date.parse(r.started_at)) / 1000 : null,
      gpuHours: gpuSeconds(r) / 3600,
      tags: JSON.parse(r.tags) as Record<string, string>,
    })),
    params: paramRows,
    metrics,
  };
}

/** Stored values are JSON text; the same value always prints the same way once canonical. */
function canonicalJsonOf(text: string): string {
  return text === '\u0000absent' ? text : canonicalJson(JSON.parse(text));
}

function direction(name: string, o: CompareOptions): 'higher' | 'lower' {
  if (o.higherIsBetter?.includes(name)) return 'higher';
  if (o.lowerIsBetter?.includes(name)) return 'lower';
  return betterByName(name);
}
