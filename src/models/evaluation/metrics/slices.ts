/**
 * Per-slice metrics with thresholds, and fairness gaps between groups.
 *
 * A slice is the set of rows with given values in the `by` columns (groups.ts says how values
 * match). Thresholds apply to every slice present. A slice the suite names in `required` that
 * has no rows FAILS — never a skip: a filter upstream that silently drops a population must not
 * make its gate pass. A metric that is undefined on a slice (ROC-AUC of a slice with one class)
 * fails its checks too, with the reason; the slice's value is reported as null.
 */
import { CairnError } from '../../../core/errors.js';
import { checkOptions, checkPair, toFloat64, type MetricOptions, type NumericColumn } from './inputs.js';
import {
  checkColumns,
  compareTexts,
  gather,
  groupRows,
  sliceName,
  valueText,
  type Columns,
  type SliceValue,
} from './groups.js';
import { resolveMetric, type MetricDefinition, type MetricRef } from './metrics.js';

export interface SliceCheck {
  metric: MetricRef;
  /** The slice passes when value ≥ min (inclusive). */
  min?: number;
  /** The slice passes when value ≤ max (inclusive). */
  max?: number;
}

export interface SliceReportInput {
  y: NumericColumn;
  p: NumericColumn;
  columns: Columns;
  /** The columns that define a slice. */
  by: readonly string[];
  /** Metrics to compute on every slice, with optional bounds. */
  checks: readonly SliceCheck[];
  /** Slices the suite names: each must give a value for exactly the `by` columns, and must have rows. */
  required?: ReadonlyArray<Readonly<Record<string, SliceValue>>>;
  options?: MetricOptions;
}

export interface SliceCheckResult {
  metric: string;
  value: number | null;
  min: number | null;
  max: number | null;
  pass: boolean;
  /** Why it failed; absent when it passed. */
  reason?: string;
}

export interface SliceResult {
  key: Record<string, SliceValue>;
  name: string;
  rows: number;
  /** Rows with label 1 (binary metrics) — context for small or one-class slices. */
  positives: number | null;
  required: boolean;
  /** A required slice without rows. */
  missing: boolean;
  checks: SliceCheckResult[];
  pass: boolean;
}

export interface SliceReport {
  by: string[];
  slices: SliceResult[];
  pass: boolean;
  /** One line per failed check or missing slice, in slice order. */
  failures: string[];
}

export function sliceReport(input: SliceReportInput): SliceReport {
  const checks = input.checks.map((c) => checkBounds(c));
  const metrics = checks.map((c) => c.def);
  const rows = input.y.length;
  // Validate on all rows first, so an error names the row of the input, not of a slice.
  for (const def of metrics) {
    checkOptions(def.name, input.options);
    checkPair(def.name, def.input, input.y, input.p);
  }
  const binary = metrics.some((d) => d.input === 'binary');
  const y = toFloat64(input.y);
  const p = toFloat64(input.p);
  if (p.length !== rows) {
    throw new CairnError(
      'INVALID_INPUT',
      `slices: ${rows} labels but ${p.length} predictions; they must be the same rows`,
      { data: { labels: rows, predictions: p.length } },
    );
  }
  checkColumns(input.columns, input.by, rows);
  const required = (input.required ?? []).map((r) => requiredText(r, input.by));

  const slices: SliceResult[] = [];
  const seen = new Set<string>();
  for (const g of groupRows(input.columns, input.by, rows)) {
    const ys = gather(y, g.rows);
    const ps = gather(p, g.rows);
    const id = JSON.stringify(g.text);
    seen.add(id);
    const results = checks.map(({ def, min, max }) =>
      judge(def, def.prepare(ys, ps, input.options).evaluate(), min, max),
    );
    slices.push({
      key: g.key,
      name: g.name,
      rows: g.rows.length,
      positives: binary ? countOnes(ys) : null,
      required: required.some((r) => JSON.stringify(r.text) === id),
      missing: false,
      checks: results,
      pass: results.every((r) => r.pass),
    });
  }
  for (const r of required) {
    if (seen.has(JSON.stringify(r.text))) continue;
    seen.add(JSON.stringify(r.text));
    const name = sliceName(input.by, r.text);
    slices.push({
      key: r.key,
      name,
      rows: 0,
      positives: binary ? 0 : null,
      required: true,
      missing: true,
      checks: checks.map(({ def, min, max }) => ({
        metric: def.name,
        value: null,
        min,
        max,
        pass: false,
        reason: 'the slice has no rows',
      })),
      pass: false,
    });
  }
  slices.sort((a, b) =>
    compareTexts(
      input.by.map((c) => valueText(a.key[c])),
      input.by.map((c) => valueText(b.key[c])),
    ),
  );

  const failures: string[] = [];
  for (const s of slices) {
    if (s.missing) failures.push(`${s.name}: required slice has no rows`);
    else for (const c of s.checks) if (!c.pass) failures.push(`${s.name}: ${c.metric} ${c.reason}`);
  }
  return { by: [...input.by], slices, pass: failures.length === 0, failures };
}

function checkBounds(c: SliceCheck): { def: MetricDefinition; min: number | null; max: number | null } {
  const def = resolveMetric(c.metric);
  const min = c.min ?? null;
  const max = c.max ?? null;
  for (const [what, v] of [
    ['min', min],
    ['max', max],
  ] as const) {
    if (v !== null && !Number.isFinite(v)) {
      throw new CairnError('INVALID_INPUT', `slice check ${def.name}: ${what} ${v} is not a finite number`, {
        data: { metric: def.name },
      });
    }
  }
  if (min !== null && max !== null && min > max) {
    throw new CairnError('INVALID_INPUT', `slice check ${def.name}: min ${min} is above max ${max}`, {
      data: { metric: def.name, min, max },
    });
  }
  return { def, min, max };
}

function requiredText(
  r: Readonly<Record<string, SliceValue>>,
  by: readonly string[],
): { key: Record<string, SliceValue>; text: (string | null)[] } {
  const keys = Object.keys(r);
  const extra = keys.filter((k) => !by.includes(k));
  const absent = by.filter((c) => !Object.hasOwn(r, c));
  if (extra.length || absent.length) {
    throw new CairnError(
      'INVALID_INPUT',
      `required slice ${JSON.stringify(r)} must give a value for exactly the columns ${by.join(', ')}` +
        (absent.length ? ` (missing: ${absent.join(', ')})` : '') +
        (extra.length ? ` (not grouped by: ${extra.join(', ')})` : ''),
      { data: { slice: r, by } },
    );
  }
  const key: Record<string, SliceValue> = {};
  for (const c of by) key[c] = r[c] ?? null;
  return { key, text: by.map((c) => valueText(r[c])) };
}

function judge(def: MetricDefinition, value: number, min: number | null, max: number | null): SliceCheckResult {
  if (Number.isNaN(value)) {
    return {
      metric: def.name,
      value: null,
      min,
      max,
      pass: false,
      reason: `is undefined on this slice: ${def.undefinedWhen}`,
    };
  }
  const low = min !== null && value < min;
  const high = max !== null && value > max;
  const result: SliceCheckResult = { metric: def.name, value, min, max, pass: !low && !high };
  if (low) result.reason = `${value} < min ${min}`;
  if (high) result.reason = `${value} > max ${max}`;
  return result;
}

function countOnes(y: Float64Array): number {
  let n = 0;
  for (let i = 0; i < y.length; i++) n += y[i]!;
  return n;
}

export interface GroupRate {
  key: Record<string, SliceValue>;
  name: string;
  rows: number;
  /** Rows the rate is taken over: all rows (demographic parity) or actual positives (equal opportunity). */
  denominator: number;
  /** null where the denominator is 0 (a group without positives has no true-positive rate). */
  rate: number | null;
}

export interface FairnessGap {
  /** max − min of the defined rates; null when no group has one. */
  difference: number | null;
  max: GroupRate | null;
  min: GroupRate | null;
  groups: GroupRate[];
}

export interface FairnessInput {
  y: NumericColumn;
  p: NumericColumn;
  columns: Columns;
  /** The column(s) whose values define the groups (e.g. a protected attribute). */
  by: readonly string[];
  options?: MetricOptions;
}

/**
 * Fairness gaps across the groups of `by`, at the classification threshold (p > threshold):
 *   demographic parity difference = max − min over groups of P(ŷ = 1 | group);
 *   equal opportunity difference   = max − min over groups of P(ŷ = 1 | y = 1, group), the TPR.
 * Groups without actual positives have no TPR: listed with rate null, left out of max and min.
 * Ties for max or min go to the first group in the fixed group order.
 */
export function fairnessGaps(input: FairnessInput): { demographicParity: FairnessGap; equalOpportunity: FairnessGap } {
  const { threshold } = checkOptions('fairness', input.options);
  const { y, p } = checkPair('fairness', 'binary', input.y, input.p);
  const dp: GroupRate[] = [];
  const eo: GroupRate[] = [];
  for (const g of groupRows(input.columns, input.by, y.length)) {
    let predicted = 0;
    let positives = 0;
    let truePositives = 0;
    for (let k = 0; k < g.rows.length; k++) {
      const i = g.rows[k]!;
      const hit = p[i]! > threshold ? 1 : 0;
      predicted += hit;
      positives += y[i]!;
      truePositives += hit * y[i]!;
    }
    const n = g.rows.length;
    dp.push({ key: g.key, name: g.name, rows: n, denominator: n, rate: predicted / n });
    eo.push({
      key: g.key,
      name: g.name,
      rows: n,
      denominator: positives,
      rate: positives === 0 ? null : truePositives / positives,
    });
  }
  return { demographicParity: gap(dp), equalOpportunity: gap(eo) };
}

function gap(groups: GroupRate[]): FairnessGap {
  let max: GroupRate | null = null;
  let min: GroupRate | null = null;
  for (const g of groups) {
    if (g.rate === null) continue;
    if (max === null || g.rate > max.rate!) max = g;
    if (min === null || g.rate < min.rate!) min = g;
  }
  return { difference: max && min ? max.rate! - min.rate! : null, max, min, groups };
}
