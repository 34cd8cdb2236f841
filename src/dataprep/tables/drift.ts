import { ident, lit } from './engine.js';
import { columnKind, histogramCounts, histogramSql, isFloatType, type ColumnProfile } from './profile.js';

/**
 * Drift of one column against a reference version's stored profile, computed from aggregates
 * that fit in the validation's single scan: the current data is binned on the reference's own
 * histogram edges (numeric) or counted on the reference's categories (categorical), so nothing
 * of the reference but its profile is needed.
 */
export type DriftMethod = 'numeric' | 'categorical';

/** Proportions are floored at this before PSI's logarithm, so an empty bin is not infinite. */
export const PSI_EPSILON = 1e-4;
/** The category that collects current values the reference never had. */
export const OTHER = '(other)';

export interface DriftColumn {
  column: string;
  method: DriftMethod;
  /** Population stability index over the reference's bins or categories. */
  psi: number;
  /** Numeric: the largest gap between the two cumulative distributions at the bin edges. */
  ks?: number;
  /** Numeric: standardized mean difference (Cohen's d, pooled standard deviation). */
  cohensD?: number | null;
  /** Categorical: total variation distance, ½ Σ |p − q|. */
  tvd?: number;
  reference: { count: number; mean?: number | null; stddev?: number | null };
  current: { count: number; mean?: number | null; stddev?: number | null };
  /** Numeric: the reference's edges; categorical: the categories (plus OTHER). */
  bins: Array<{ bin: string; reference: number; current: number }>;
  passed: boolean;
}

/** How a column can be compared, or why it cannot. */
export function driftMethod(ref: ColumnProfile, currentType: string): { method: DriftMethod } | { reason: string } {
  const kind = columnKind(currentType);
  if (ref.kind === 'numeric' && ref.histogram) {
    if (kind !== 'numeric') return { reason: `it is numeric in the reference but ${currentType} now` };
    return { method: 'numeric' };
  }
  if (ref.frequencies) {
    if (kind === 'numeric' && ref.kind !== 'numeric')
      return { reason: `it is ${ref.type} in the reference but ${currentType} now` };
    return { method: 'categorical' };
  }
  if (ref.count === 0) return { reason: 'the reference has no values in it' };
  return {
    reason: `the reference profile has no histogram or frequency table for it (${ref.kind}, ${ref.distinct} distinct values; categories are kept up to 1,000)`,
  };
}

/** The aggregates (SQL) drift needs over the current data; `evaluateDrift` reads them in order. */
export function driftAggregates(
  column: string,
  currentType: string,
  ref: ColumnProfile,
  method: DriftMethod,
): string[] {
  const x = ident(column);
  if (method === 'numeric') {
    // As in the profile: NaN is in no bin, and only finite values make the moments.
    const float = isFloatType(currentType);
    const finite = float ? ` FILTER (WHERE isfinite(${x}))` : '';
    return [
      histogramSql(x, currentType, ref.histogram!.edges),
      `count(${x})${float ? ` FILTER (WHERE NOT isnan(${x}))` : ''}`,
      `avg(${x})${finite}`,
      `stddev_samp(${x})${finite}`,
    ];
  }
  const text = `CAST(${x} AS VARCHAR)`;
  const known = `[${ref.frequencies!.map((f) => lit(f.value)).join(', ')}]`;
  // list_contains hashes; an IN list of a thousand values is a chain of comparisons per row.
  return [`histogram(${text}) FILTER (WHERE list_contains(${known}, ${text}))`, `count(${x})`];
}

export function evaluateDrift(
  column: string,
  ref: ColumnProfile,
  method: DriftMethod,
  values: readonly unknown[],
  limits: { psiMax: number; ksMax: number },
): DriftColumn {
  if (method === 'numeric') {
    const edges = ref.histogram!.edges;
    const cur = histogramCounts(values[0], edges);
    const refCounts = ref.histogram!.counts;
    const psi = psiOf(refCounts, cur);
    const ks = ksOf(refCounts, cur);
    const current = { count: Number(values[1] ?? 0), mean: num(values[2]), stddev: num(values[3]) };
    const d = cohensD({ count: ref.count, mean: ref.mean ?? null, stddev: ref.stddev ?? null }, current);
    const bins = refCounts.map((r, i) => ({ bin: binLabel(edges, i), reference: r, current: cur[i] ?? 0 }));
    return {
      column,
      method,
      psi,
      ks,
      cohensD: d,
      reference: { count: ref.count, mean: ref.mean ?? null, stddev: ref.stddev ?? null },
      current,
      bins,
      passed: psi <= limits.psiMax && ks <= limits.ksMax,
    };
  }
  const got = new Map<string, number>();
  for (const e of (values[0] as Array<{ key: string; value: number | string }> | null) ?? [])
    got.set(String(e.key), Number(e.value));
  const total = Number(values[1] ?? 0);
  const known = [...got.values()].reduce((a, b) => a + b, 0);
  const refCounts = [...ref.frequencies!.map((f) => f.count), 0];
  const cur = [...ref.frequencies!.map((f) => got.get(f.value) ?? 0), total - known];
  const psi = psiOf(refCounts, cur);
  const tvd = tvdOf(refCounts, cur);
  const bins = ref.frequencies!.map((f, i) => ({ bin: f.value, reference: f.count, current: cur[i] ?? 0 }));
  bins.push({ bin: OTHER, reference: 0, current: total - known });
  return {
    column,
    method,
    psi,
    tvd,
    reference: { count: ref.count },
    current: { count: total },
    bins,
    passed: psi <= limits.psiMax,
  };
}

function num(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}

function proportions(counts: readonly number[]): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return counts.map((c) => (total > 0 ? c / total : 0));
}

/** PSI = Σ (q − p) · ln(q / p) over bins, p the reference's and q the current proportions, each floored at PSI_EPSILON. */
export function psiOf(reference: readonly number[], current: readonly number[]): number {
  const p = proportions(reference);
  const q = proportions(current);
  let psi = 0;
  for (let i = 0; i < p.length; i++) {
    const a = Math.max(p[i]!, PSI_EPSILON);
    const b = Math.max(q[i] ?? 0, PSI_EPSILON);
    psi += (b - a) * Math.log(b / a);
  }
  return psi;
}

/** The Kolmogorov–Smirnov statistic of two binned samples: max |F_ref − F_cur| at the bin edges. */
export function ksOf(reference: readonly number[], current: readonly number[]): number {
  const p = proportions(reference);
  const q = proportions(current);
  let a = 0;
  let b = 0;
  let d = 0;
  for (let i = 0; i < p.length; i++) {
    a += p[i]!;
    b += q[i] ?? 0;
    d = Math.max(d, Math.abs(a - b));
  }
  return d;
}

/** Total variation distance: ½ Σ |p − q|. */
export function tvdOf(reference: readonly number[], current: readonly number[]): number {
  const p = proportions(reference);
  const q = proportions(current);
  let s = 0;
  for (let i = 0; i < p.length; i++) s += Math.abs(p[i]! - (q[i] ?? 0));
  return s / 2;
}

/** (mean_cur − mean_ref) / pooled standard deviation; null when it is undefined (no spread or too few values). */
export function cohensD(
  ref: { count: number; mean: number | null; stddev: number | null },
  cur: { count: number; mean: number | null; stddev: number | null },
): number | null {
  if (
    ref.mean === null ||
    cur.mean === null ||
    ref.stddev === null ||
    cur.stddev === null ||
    ref.count + cur.count <= 2
  )
    return null;
  const pooled = Math.sqrt(
    ((ref.count - 1) * ref.stddev ** 2 + (cur.count - 1) * cur.stddev ** 2) / (ref.count + cur.count - 2),
  );
  if (!(pooled > 0)) return cur.mean === ref.mean ? 0 : null;
  return (cur.mean - ref.mean) / pooled;
}

function binLabel(edges: readonly number[], i: number): string {
  const n = edges.length - 1;
  if (n <= 1) return `[${edges[0]}, ${edges[edges.length - 1]}]`;
  if (i === 0) return `≤ ${edges[1]}`;
  if (i === n - 1) return `> ${edges[i]}`;
  return `(${edges[i]}, ${edges[i + 1]}]`;
}
