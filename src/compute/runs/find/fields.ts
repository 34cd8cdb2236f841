import type { Scalar } from './filter.js';

/**
 * The fields of a run that `run ls` shows, filters and sorts on (docs/RUNS.md "Fields"):
 * columns of the run, `tags.<k>`, `params.<name>`, and `metrics.<name>` (the last value) or
 * `metrics.<name>.min|max|last|points`.
 */
export const RUN_FIELDS = [
  'id',
  'name',
  'spec',
  'project',
  'status',
  'backend',
  'gpus',
  'created',
  'started',
  'ended',
  'duration',
  'gpuHours',
  'exit',
  'note',
] as const;

export interface MetricStats {
  last: number;
  min: number;
  max: number;
  points: number;
}

/** A run as the finder sees it: its columns, tags, params and metric summaries. */
export interface RunRecord {
  base: Record<(typeof RUN_FIELDS)[number], Scalar>;
  tags: Record<string, string>;
  params: Record<string, unknown>;
  metrics: Record<string, MetricStats>;
}

const STATS = ['last', 'min', 'max', 'points'] as const;

/** A field's value in a run; undefined when the run has no such param, metric or tag. */
export function fieldValue(r: RunRecord, field: string): Scalar | undefined {
  if (field.startsWith('params.')) return scalarOf(r.params[field.slice(7)]);
  if (field.startsWith('tags.')) return r.tags[field.slice(5)];
  if (field.startsWith('metrics.')) {
    const name = field.slice(8);
    const whole = r.metrics[name];
    if (whole) return whole.last;
    const dot = name.lastIndexOf('.');
    const stat = name.slice(dot + 1) as (typeof STATS)[number];
    if (dot > 0 && STATS.includes(stat)) return r.metrics[name.slice(0, dot)]?.[stat];
    return undefined;
  }
  return (RUN_FIELDS as readonly string[]).includes(field) ? r.base[field as (typeof RUN_FIELDS)[number]] : undefined;
}

function scalarOf(v: unknown): Scalar | undefined {
  if (v === undefined) return undefined;
  if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) return v as Scalar;
  return JSON.stringify(v);
}

/** The params and metrics a list of fields names (stats suffixes stripped later, by fieldValue). */
export function neededNames(fields: readonly string[]): { params: Set<string>; metrics: Set<string>; bad: string[] } {
  const params = new Set<string>();
  const metrics = new Set<string>();
  const bad: string[] = [];
  for (const f of fields) {
    if (f.startsWith('params.') && f.length > 7) params.add(f.slice(7));
    else if (f.startsWith('metrics.') && f.length > 8) {
      const name = f.slice(8);
      metrics.add(name);
      const dot = name.lastIndexOf('.');
      if (dot > 0 && (STATS as readonly string[]).includes(name.slice(dot + 1))) metrics.add(name.slice(0, dot));
    } else if (!(f.startsWith('tags.') && f.length > 5) && !(RUN_FIELDS as readonly string[]).includes(f)) bad.push(f);
  }
  return { params, metrics, bad };
}

/** One sort key of `--sort`: `-metrics.acc` is descending. */
export interface SortKey {
  field: string;
  desc: boolean;
}

export function parseSort(s: string): SortKey[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map((x) => (x.startsWith('-') ? { field: x.slice(1), desc: true } : { field: x.replace(/^\+/, ''), desc: false }));
}
