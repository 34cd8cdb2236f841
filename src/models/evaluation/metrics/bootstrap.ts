/**
 * Bootstrap confidence intervals and paired non-regression gates.
 *
 * Resampling: each resample draws n rows with replacement (n = the number of rows) from the
 * seeded generator of prng.ts and is represented as multiplicities, counts[i] = how often row i
 * was drawn; every metric is then evaluated with those counts (kernels.ts), so no resampled copy
 * of the data is ever built and ROC-AUC reuses one sort. All metrics of one call see the same
 * resamples, in the same order: resample b is the b-th block of n draws from the seed, so the
 * accuracy interval of bootstrapCIs(['accuracy', 'f1']) equals that of bootstrapCI('accuracy')
 * with the same seed.
 *
 * Interval: the percentile method. The resample values are sorted and the interval is their
 * (1 − confidence)/2 and (1 + confidence)/2 quantiles, each by linear interpolation between
 * order statistics (type 7 of Hyndman & Fan, numpy's default): for m values v₍₀₎ ≤ … ≤ v₍ₘ₋₁₎ the
 * q-quantile is v₍ⱼ₎ + (h − j)(v₍ⱼ₊₁₎ − v₍ⱼ₎) with h = (m − 1)q, j = ⌊h⌋. `se` is the standard
 * deviation of the resample values (denominator m − 1). `value` is the metric on all rows, not
 * the mean of the resamples.
 *
 * Resamples where the metric is undefined (ROC-AUC of a resample with one class) are dropped and
 * counted in `undefinedResamples`: the interval is then conditional on the metric existing. More
 * than a few means too few rows of a class for an interval to mean much.
 */
import { CairnError } from '../../../core/errors.js';
import type { MetricOptions, NumericColumn } from './inputs.js';
import { prepareBatch } from './batch.js';
import { resolveMetric, type MetricDefinition, type MetricRef } from './metrics.js';
import { PRNG_NAME, Xoshiro128 } from './prng.js';

export interface BootstrapOptions extends MetricOptions {
  /** Number of resamples (default 1,000). */
  resamples?: number;
  /** Two-sided confidence level in (0, 1) (default 0.95). */
  confidence?: number;
  /** 32-bit unsigned seed (default 0): the same seed and data give bit-identical intervals. */
  seed?: number;
}

export interface Interval {
  /** The point estimate on all rows. */
  value: number;
  lo: number;
  hi: number;
  se: number;
}

export interface BootstrapSettings {
  method: 'percentile';
  prng: string;
  resamples: number;
  confidence: number;
  seed: number;
  /** Resamples dropped because the metric was undefined on them. */
  undefinedResamples: number;
}

export interface BootstrapResult extends Interval, BootstrapSettings {
  metric: string;
  higherIsBetter: boolean;
}

export interface PairedDelta extends BootstrapSettings {
  metric: string;
  higherIsBetter: boolean;
  /** candidate − champion: value on all rows, and its interval over paired resamples. */
  delta: Interval;
  candidate: Interval;
  champion: Interval;
}

export const DEFAULT_RESAMPLES = 1000;
export const DEFAULT_CONFIDENCE = 0.95;
export const DEFAULT_SEED = 0;

export interface BootstrapInput {
  /** Labels (or actual values), one per row. */
  y: NumericColumn;
  /** The candidate's scores (or predictions), one per row. */
  p: NumericColumn;
  /** Metrics to put an interval on. */
  metrics: readonly MetricRef[];
  /** A champion to compare with: paired deltas (candidate − champion) for its metrics. */
  champion?: { p: NumericColumn; metrics: readonly MetricRef[] };
}

export interface BootstrapEvaluation {
  intervals: Record<string, BootstrapResult>;
  deltas: Record<string, PairedDelta>;
}

/**
 * Everything a gate needs from one set of resamples: the candidate's intervals and, with a
 * champion, the paired deltas. One pass of draws serves all metrics of both models, so a delta's
 * `candidate` interval is the same as the candidate's entry in `intervals`.
 */
export function bootstrapEvaluate(input: BootstrapInput, options: BootstrapOptions = {}): BootstrapEvaluation {
  const settings = checkSettings(options);
  const wanted = uniqueMetrics(input.metrics, true);
  const compared = input.champion ? uniqueMetrics(input.champion.metrics, false) : [];
  const all = uniqueMetrics([...wanted, ...compared], false);
  const cand = prepareBatch(all, input.y, input.p, options);
  const champ = input.champion ? prepareBatch(compared, input.y, input.champion.p, options) : null;
  const r = settings.resamples;
  const candSeries = all.map(() => new Float64Array(r));
  const champSeries = compared.map(() => new Float64Array(r));
  const cv = new Float64Array(all.length);
  const hv = new Float64Array(compared.length);
  // Where each compared metric sits in the candidate batch.
  const at = compared.map((d) => all.indexOf(d));

  const candValue = new Float64Array(all.length);
  cand.evaluateInto(candValue);
  const champValue = new Float64Array(compared.length);
  champ?.evaluateInto(champValue);
  all.forEach((d, m) => defined(d, candValue[m]!, 'the candidate'));
  compared.forEach((d, m) => defined(d, champValue[m]!, 'the champion'));

  const rng = Xoshiro128.fromSeed(settings.seed);
  const counts = new Uint32Array(cand.rows);
  for (let b = 0; b < r; b++) {
    rng.fillCounts(counts);
    cand.evaluateInto(cv, counts);
    for (let m = 0; m < all.length; m++) candSeries[m]![b] = cv[m]!;
    if (champ) {
      champ.evaluateInto(hv, counts);
      for (let m = 0; m < compared.length; m++) champSeries[m]![b] = hv[m]!;
    }
  }

  const intervals: Record<string, BootstrapResult> = {};
  for (const d of wanted) {
    const m = all.indexOf(d);
    const s = summarize(d.name, candValue[m]!, candSeries[m]!, settings.confidence);
    intervals[d.name] = {
      metric: d.name,
      higherIsBetter: d.higherIsBetter,
      ...s.interval,
      ...settingsOf(settings, s.undefinedResamples),
    };
  }
  const deltas: Record<string, PairedDelta> = {};
  compared.forEach((d, m) => {
    const c = candSeries[at[m]!]!;
    const h = champSeries[m]!;
    const diff = new Float64Array(r);
    for (let b = 0; b < r; b++) diff[b] = c[b]! - h[b]!;
    const delta = summarize(d.name, candValue[at[m]!]! - champValue[m]!, diff, settings.confidence);
    deltas[d.name] = {
      metric: d.name,
      higherIsBetter: d.higherIsBetter,
      delta: delta.interval,
      candidate: summarize(d.name, candValue[at[m]!]!, c, settings.confidence).interval,
      champion: summarize(d.name, champValue[m]!, h, settings.confidence).interval,
      ...settingsOf(settings, delta.undefinedResamples),
    };
  });
  return { intervals, deltas };
}

/** Intervals for several metrics of one model, all from the same resamples. */
export function bootstrapCIs(
  metrics: readonly MetricRef[],
  y: NumericColumn,
  p: NumericColumn,
  options: BootstrapOptions = {},
): Record<string, BootstrapResult> {
  return bootstrapEvaluate({ y, p, metrics }, options).intervals;
}

/** The interval of one metric of one model. */
export function bootstrapCI(
  metric: MetricRef,
  y: NumericColumn,
  p: NumericColumn,
  options: BootstrapOptions = {},
): BootstrapResult {
  const def = resolveMetric(metric);
  return bootstrapCIs([def], y, p, options)[def.name]!;
}

/**
 * candidate − champion for several metrics, paired: in every resample both models are scored on
 * the same drawn rows, so the noise of which rows were drawn cancels in the difference (a much
 * narrower interval than two independent ones). Also returns each model's own interval from
 * the same resamples. Identical predictions give a delta of exactly 0 with lo = hi = se = 0.
 */
export function pairedBootstrapDeltas(
  metrics: readonly MetricRef[],
  y: NumericColumn,
  pCandidate: NumericColumn,
  pChampion: NumericColumn,
  options: BootstrapOptions = {},
): Record<string, PairedDelta> {
  return bootstrapEvaluate({ y, p: pCandidate, metrics: [], champion: { p: pChampion, metrics } }, options).deltas;
}

export function pairedBootstrapDelta(
  metric: MetricRef,
  y: NumericColumn,
  pCandidate: NumericColumn,
  pChampion: NumericColumn,
  options: BootstrapOptions = {},
): PairedDelta {
  const def = resolveMetric(metric);
  return pairedBootstrapDeltas([def], y, pCandidate, pChampion, options)[def.name]!;
}

export interface NonRegressionInput {
  /** The interval of candidate − champion (e.g. PairedDelta.delta). */
  delta: { lo: number; hi: number };
  /** How much worse the candidate may be, in the metric's units (≥ 0). */
  margin: number;
  higherIsBetter: boolean;
}

export interface NonRegressionResult {
  pass: boolean;
  /** The interval end that decides: lo for higher-is-better metrics, hi otherwise. */
  bound: 'lo' | 'hi';
  boundValue: number;
  /** −margin or +margin. */
  limit: number;
  rule: string;
}

/**
 * The non-regression gate. With delta = candidate − champion:
 *   higher is better: pass iff delta.lo ≥ −margin (even the pessimistic end loses at most margin);
 *   lower is better:  pass iff delta.hi ≤ +margin (the pessimistic end adds at most margin).
 * Both ends are inclusive. An interval with NaN ends fails.
 */
export function nonRegression(input: NonRegressionInput): NonRegressionResult {
  const { delta, margin, higherIsBetter } = input;
  if (!(margin >= 0) || !Number.isFinite(margin)) {
    throw new CairnError('INVALID_INPUT', `non-regression margin ${margin} must be a finite number ≥ 0`, {
      data: { margin },
    });
  }
  if (higherIsBetter) {
    return {
      pass: delta.lo >= -margin,
      bound: 'lo',
      boundValue: delta.lo,
      limit: -margin,
      rule: `lower bound of (candidate − champion) ≥ −${margin}`,
    };
  }
  return {
    pass: delta.hi <= margin,
    bound: 'hi',
    boundValue: delta.hi,
    limit: margin,
    rule: `upper bound of (candidate − champion) ≤ ${margin}`,
  };
}

interface Settings {
  resamples: number;
  confidence: number;
  seed: number;
}

function checkSettings(options: BootstrapOptions): Settings {
  const resamples = options.resamples ?? DEFAULT_RESAMPLES;
  const confidence = options.confidence ?? DEFAULT_CONFIDENCE;
  const seed = options.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(resamples) || resamples < 2 || resamples > 1_000_000) {
    throw new CairnError('INVALID_INPUT', `bootstrap resamples ${resamples} must be an integer from 2 to 1,000,000`, {
      data: { resamples },
    });
  }
  if (!(confidence > 0 && confidence < 1)) {
    throw new CairnError('INVALID_INPUT', `bootstrap confidence ${confidence} must be between 0 and 1 (e.g. 0.95)`, {
      data: { confidence },
    });
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new CairnError('INVALID_INPUT', `bootstrap seed ${seed} must be an integer from 0 to 4294967295`, {
      data: { seed },
    });
  }
  return { resamples, confidence, seed };
}

function settingsOf(s: Settings, undefinedResamples: number): BootstrapSettings {
  return {
    method: 'percentile',
    prng: PRNG_NAME,
    resamples: s.resamples,
    confidence: s.confidence,
    seed: s.seed,
    undefinedResamples,
  };
}

function uniqueMetrics(metrics: readonly MetricRef[], allowEmpty: boolean): MetricDefinition[] {
  const seen = new Map<string, MetricDefinition>();
  for (const m of metrics) {
    const d = resolveMetric(m);
    if (!seen.has(d.name)) seen.set(d.name, d);
  }
  if (seen.size === 0 && !allowEmpty) throw new CairnError('INVALID_INPUT', 'bootstrap: no metrics given');
  return [...seen.values()];
}

/** A metric undefined on all rows has no interval: the same error a plain computation gives. */
function defined(def: MetricDefinition, value: number, model: string): void {
  if (Number.isNaN(value)) {
    throw new CairnError('INVALID_INPUT', `${def.name} of ${model} is undefined for these rows: ${def.undefinedWhen}`, {
      data: { metric: def.name },
    });
  }
}

function summarize(
  metric: string,
  value: number,
  series: Float64Array,
  confidence: number,
): { interval: Interval; undefinedResamples: number } {
  const defined = series.filter((v) => !Number.isNaN(v)).sort();
  const m = defined.length;
  if (m === 0) {
    throw new CairnError(
      'INVALID_INPUT',
      `${metric}: undefined on every bootstrap resample; too few rows of a class for an interval`,
      { data: { metric } },
    );
  }
  const alpha = (1 - confidence) / 2;
  let mean = 0;
  for (let i = 0; i < m; i++) mean += defined[i]!;
  mean /= m;
  let ss = 0;
  for (let i = 0; i < m; i++) ss += (defined[i]! - mean) ** 2;
  return {
    interval: {
      value,
      lo: quantile(defined, alpha),
      hi: quantile(defined, 1 - alpha),
      se: m > 1 ? Math.sqrt(ss / (m - 1)) : 0,
    },
    undefinedResamples: series.length - m,
  };
}

/** Type-7 quantile of sorted values (see the header). */
export function quantile(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const j = Math.floor(h);
  const lo = sorted[j]!;
  const hi = sorted[Math.min(j + 1, sorted.length - 1)]!;
  return lo === hi ? lo : lo + (h - j) * (hi - lo);
}
