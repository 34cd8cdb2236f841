import type { FilterNode } from './filter.js';

/**
 * A set of run ids the database can compute from its indexes alone (run_params_name,
 * run_metric_summaries_name): what lets a filter over 100,000 runs read only the few thousand
 * that can match instead of every run. Pure: compiled to SQL by sql.ts.
 */
export type RunSet =
  | { kind: 'all' }
  | { kind: 'none' }
  /** Runs with a summary of metric `name` whose `stat` compares to `value` by `op`. */
  | { kind: 'metric'; name: string; stat: MetricStat; op: SqlOp; value: number }
  /** Runs with any summary of metric `name`. */
  | { kind: 'hasMetric'; name: string }
  /**
   * Runs whose param `name` is a JSON number comparing to `value` by `op`, or (when `text`)
   * JSON text: text that reads as a number compares as one, which only the recheck can tell.
   */
  | { kind: 'param'; name: string; op: SqlOp; value: number; text: boolean }
  /** Runs with param `name` set to something other than null. */
  | { kind: 'hasParam'; name: string }
  | { kind: 'intersect' | 'union' | 'except'; left: RunSet; right: RunSet };

export type MetricStat = 'last' | 'min' | 'max' | 'points';
export type SqlOp = '<' | '<=' | '>' | '>=' | '=';

/**
 * `exact`: the set is exactly the runs the filter matches. Otherwise it holds every match and
 * some runs more, and the filter is evaluated again on it (filter.ts's `matches`).
 */
export interface FilterPlan {
  set: RunSet;
  exact: boolean;
}

const STATS: readonly MetricStat[] = ['last', 'min', 'max', 'points'];
const OPS: Record<string, SqlOp> = { '<': '<', '<=': '<=', '>': '>', '>=': '>=', '==': '=' };

/**
 * The smallest set of runs the database can find that holds every run the filter matches, or
 * null when no part of it narrows the runs (a filter on tags, names or text). Comparisons of
 * params and metrics with numbers and with null are planned; the semantics are filter.ts's:
 * a missing value fails every comparison but `!=`, which it passes.
 */
export function planFilter(n: FilterNode): FilterPlan | null {
  switch (n.kind) {
    case 'and': {
      const l = planFilter(n.left);
      const r = planFilter(n.right);
      if (!l || !r) {
        const one = l ?? r;
        return one ? { set: one.set, exact: false } : null;
      }
      return { set: { kind: 'intersect', left: l.set, right: r.set }, exact: l.exact && r.exact };
    }
    case 'or': {
      const l = planFilter(n.left);
      const r = planFilter(n.right);
      if (!l || !r) return null;
      return { set: { kind: 'union', left: l.set, right: r.set }, exact: l.exact && r.exact };
    }
    case 'not': {
      // The complement of a superset is not a superset: only an exact set can be negated.
      const p = planFilter(n.operand);
      if (!p?.exact) return null;
      return { set: { kind: 'except', left: { kind: 'all' }, right: p.set }, exact: true };
    }
    case 'cmp':
      return planCmp(n);
  }
}

function planCmp(n: Extract<FilterNode, { kind: 'cmp' }>): FilterPlan | null {
  const field = n.field;
  const present = presentSet(field);
  if (!present) return null;
  if (n.value === null) {
    if (n.op === '==') return { set: { kind: 'except', left: { kind: 'all' }, right: present }, exact: true };
    if (n.op === '!=') return { set: present, exact: true };
    return n.op === '~' ? null : { set: { kind: 'none' }, exact: true };
  }
  if (typeof n.value !== 'number' || !Number.isFinite(n.value) || n.op === '~') return null;
  const value = n.value;
  if (field.startsWith('params.')) {
    const name = field.slice(7);
    // `!=` leaves out only the runs whose param is surely equal (a JSON number): text that
    // reads as the same number stays in, for the recheck to drop.
    if (n.op === '!=')
      return {
        set: { kind: 'except', left: { kind: 'all' }, right: { kind: 'param', name, op: '=', value, text: false } },
        exact: false,
      };
    const op = OPS[n.op];
    return op ? { set: { kind: 'param', name, op, value, text: true }, exact: false } : null;
  }
  const name = field.slice(8);
  if (n.op === '!=')
    return { set: { kind: 'except', left: { kind: 'all' }, right: metricSet(name, '=', value) }, exact: true };
  const op = OPS[n.op];
  return op ? { set: metricSet(name, op, value), exact: true } : null;
}

/**
 * `metrics.acc.max` is the last value of a metric named `acc.max` where the run has one, else the
 * maximum of `acc` (fields.ts's fieldValue): both halves, the second without the runs of the first.
 */
function metricSet(name: string, op: SqlOp, value: number): RunSet {
  const last: RunSet = { kind: 'metric', name, stat: 'last', op, value };
  const split = statOf(name);
  if (!split) return last;
  const ofBase: RunSet = { kind: 'metric', name: split.base, stat: split.stat, op, value };
  return {
    kind: 'union',
    left: last,
    right: { kind: 'except', left: ofBase, right: { kind: 'hasMetric', name } },
  };
}

/** The runs that have a value for the field (param or metric), or null for other fields. */
function presentSet(field: string): RunSet | null {
  if (field.startsWith('params.') && field.length > 7) return { kind: 'hasParam', name: field.slice(7) };
  if (!field.startsWith('metrics.') || field.length <= 8) return null;
  const name = field.slice(8);
  const split = statOf(name);
  const whole: RunSet = { kind: 'hasMetric', name };
  return split ? { kind: 'union', left: whole, right: { kind: 'hasMetric', name: split.base } } : whole;
}

function statOf(name: string): { base: string; stat: MetricStat } | null {
  const dot = name.lastIndexOf('.');
  const stat = name.slice(dot + 1) as MetricStat;
  return dot > 0 && STATS.includes(stat) ? { base: name.slice(0, dot), stat } : null;
}
