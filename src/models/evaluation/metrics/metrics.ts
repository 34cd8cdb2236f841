/**
 * The metric registry: the names an evaluation suite may use, what each needs as input, and
 * which direction is better (gates need it to know what "worse" means).
 *
 * Binary classification: y ∈ {0, 1}, p = the predicted probability of class 1. Threshold metrics
 * (accuracy, precision, recall, f1) predict 1 when p is strictly above the threshold (0.5 unless
 * given), as scikit-learn's predict, Keras and torchmetrics do: a score of exactly 0.5 is 0.
 * Where a ratio has a zero denominator (precision with no predicted positives, recall with no
 * actual positives, F1 with neither) the value is 0, scikit-learn's zero_division default.
 */
import { CairnError } from '../../../core/errors.js';
import { checkOptions, checkPair, type MetricInput, type MetricOptions, type NumericColumn } from './inputs.js';
import {
  confusionCodes,
  confusionMetric,
  eceKernel,
  type ConfusionFormula,
  meanOfRows,
  r2Kernel,
  rocAucKernel,
  type PreparedMetric,
} from './kernels.js';
import { closestName } from './suggest.js';

export type MetricKind = 'classification' | 'regression';

export interface MetricDefinition {
  readonly name: string;
  readonly kind: MetricKind;
  readonly input: MetricInput;
  readonly higherIsBetter: boolean;
  /** One line for help texts and reports. */
  readonly summary: string;
  /** When the metric has no value (evaluate gives NaN), or null if it always has one. */
  readonly undefinedWhen: string | null;
  /** Validates once and precomputes per-row quantities; see kernels.ts. */
  prepare(y: NumericColumn, p: NumericColumn, options?: MetricOptions): PreparedMetric;
  /**
   * Threshold metrics only: the value from the weighted confusion matrix. Lets a batch (batch.ts)
   * compute the matrix once per resample for all of them instead of once per metric.
   */
  readonly confusion?: ConfusionFormula;
  /** The plain value; INVALID_INPUT where the metric is undefined for these rows. */
  compute(y: NumericColumn, p: NumericColumn, options?: MetricOptions): number;
}

/** Log-loss clips probabilities to [ε, 1 − ε] so a confident miss costs −ln ε ≈ 34.5, not ∞. */
export const LOG_LOSS_EPS = 1e-15;

type Definition = Omit<MetricDefinition, 'compute' | 'undefinedWhen'> & { undefinedWhen?: string };

function define(d: Definition): MetricDefinition {
  const undefinedWhen = d.undefinedWhen ?? null;
  return {
    ...d,
    undefinedWhen,
    compute(y, p, options) {
      const value = d.prepare(y, p, options).evaluate();
      if (Number.isNaN(value)) {
        throw new CairnError('INVALID_INPUT', `${d.name} is undefined for these rows: ${undefinedWhen}`, {
          data: { metric: d.name },
        });
      }
      return value;
    },
  };
}

/**
 * Macro-F1 over class codes with row weights: per class k, TP/FP/FN counted with each row's
 * weight, F1_k = 2·TP / (2·TP + FP + FN), averaged over the classes that occur (as an actual or
 * a predicted label) among rows with a non-zero weight — scikit-learn's `f1_score(average="macro")`.
 */
function macroF1Kernel(y: ArrayLike<number>, p: ArrayLike<number>): PreparedMetric {
  const n = y.length;
  const dense = new Map<number, number>();
  const idx = (v: number) => {
    let i = dense.get(v);
    if (i === undefined) dense.set(v, (i = dense.size));
    return i;
  };
  const yi = new Int32Array(n);
  const pi = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    yi[i] = idx(y[i]!);
    pi[i] = idx(p[i]!);
  }
  const k = dense.size;
  return {
    rows: n,
    evaluate(counts) {
      const tp = new Float64Array(k);
      const fp = new Float64Array(k);
      const fn = new Float64Array(k);
      for (let i = 0; i < n; i++) {
        const c = counts ? counts[i]! : 1;
        if (c === 0) continue;
        if (yi[i] === pi[i]) tp[yi[i]!]! += c;
        else {
          fp[pi[i]!]! += c;
          fn[yi[i]!]! += c;
        }
      }
      let sum = 0;
      let classes = 0;
      for (let j = 0; j < k; j++) {
        const den = 2 * tp[j]! + fp[j]! + fn[j]!;
        if (den === 0) continue;
        classes++;
        sum += (2 * tp[j]!) / den;
      }
      return classes === 0 ? Number.NaN : sum / classes;
    },
  };
}

/** A metric that is the mean of a per-row quantity of (actual, predicted). */
function rowMean(
  name: string,
  input: MetricInput,
  perRow: (y: number, p: number) => number,
  finish?: (m: number) => number,
) {
  return (yIn: NumericColumn, pIn: NumericColumn): PreparedMetric => {
    const { y, p } = checkPair(name, input, yIn, pIn);
    const v = new Float64Array(y.length);
    for (let i = 0; i < y.length; i++) v[i] = perRow(y[i]!, p[i]!);
    return meanOfRows(v, finish);
  };
}

function confusion(name: string, formula: ConfusionFormula) {
  return (yIn: NumericColumn, pIn: NumericColumn, options?: MetricOptions): PreparedMetric => {
    const { threshold } = checkOptions(name, options);
    const { y, p } = checkPair(name, 'binary', yIn, pIn);
    return confusionMetric(confusionCodes(y, p, threshold), formula);
  };
}

const ratio = (num: number, den: number): number => (den === 0 ? 0 : num / den);
const accuracyOf: ConfusionFormula = (tn, fp, fn, tp) => (tn + tp) / (tn + fp + fn + tp);
const precisionOf: ConfusionFormula = (_tn, fp, _fn, tp) => ratio(tp, tp + fp);
const recallOf: ConfusionFormula = (_tn, _fp, fn, tp) => ratio(tp, tp + fn);
const f1Of: ConfusionFormula = (_tn, fp, fn, tp) => ratio(2 * tp, 2 * tp + fp + fn);

export const METRICS = {
  accuracy: define({
    name: 'accuracy',
    kind: 'classification',
    input: 'binary',
    higherIsBetter: true,
    summary: 'share of rows whose thresholded score equals the label',
    confusion: accuracyOf,
    prepare: confusion('accuracy', accuracyOf),
  }),
  precision: define({
    name: 'precision',
    kind: 'classification',
    input: 'binary',
    higherIsBetter: true,
    summary: 'TP / (TP + FP); 0 when nothing is predicted positive',
    confusion: precisionOf,
    prepare: confusion('precision', precisionOf),
  }),
  recall: define({
    name: 'recall',
    kind: 'classification',
    input: 'binary',
    higherIsBetter: true,
    summary: 'TP / (TP + FN), the true-positive rate; 0 when no row is positive',
    confusion: recallOf,
    prepare: confusion('recall', recallOf),
  }),
  f1: define({
    name: 'f1',
    kind: 'classification',
    input: 'binary',
    higherIsBetter: true,
    summary: '2·TP / (2·TP + FP + FN), the harmonic mean of precision and recall',
    confusion: f1Of,
    prepare: confusion('f1', f1Of),
  }),
  roc_auc: define({
    name: 'roc_auc',
    kind: 'classification',
    input: 'binary',
    higherIsBetter: true,
    summary: 'area under the ROC curve (Mann–Whitney, ties count one half)',
    undefinedWhen: 'it needs both a positive and a negative row',
    prepare: (yIn, pIn) => {
      const { y, p } = checkPair('roc_auc', 'binary', yIn, pIn);
      return rocAucKernel(y, p);
    },
  }),
  log_loss: define({
    name: 'log_loss',
    kind: 'classification',
    input: 'binary',
    higherIsBetter: false,
    summary: `mean negative log-likelihood, scores clipped to [${LOG_LOSS_EPS}, 1 − ${LOG_LOSS_EPS}]`,
    prepare: rowMean('log_loss', 'binary', (y, p) => {
      const q = Math.min(Math.max(p, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
      return y === 1 ? -Math.log(q) : -Math.log(1 - q);
    }),
  }),
  ece: define({
    name: 'ece',
    kind: 'classification',
    input: 'binary',
    higherIsBetter: false,
    summary: 'expected calibration error of P(y = 1), equal-width bins (10 unless given)',
    prepare: (yIn, pIn, options) => {
      const { bins } = checkOptions('ece', options);
      const { y, p } = checkPair('ece', 'binary', yIn, pIn);
      return eceKernel(y, p, bins);
    },
  }),
  brier: define({
    name: 'brier',
    kind: 'classification',
    input: 'binary',
    higherIsBetter: false,
    summary: 'mean squared difference between score and label',
    prepare: rowMean('brier', 'binary', (y, p) => (p - y) ** 2),
  }),
  multiclass_accuracy: define({
    name: 'multiclass_accuracy',
    kind: 'classification',
    input: 'labels',
    higherIsBetter: true,
    summary: 'share of rows whose predicted label equals the actual one (labels coded by encodeLabels)',
    prepare: rowMean('multiclass_accuracy', 'labels', (y, p) => (y === p ? 1 : 0)),
  }),
  macro_f1: define({
    name: 'macro_f1',
    kind: 'classification',
    input: 'labels',
    higherIsBetter: true,
    summary: 'mean over classes (those among the actual or predicted labels) of per-class F1, 2·TP / (2·TP + FP + FN)',
    prepare: (yIn, pIn) => {
      const { y, p } = checkPair('macro_f1', 'labels', yIn, pIn);
      return macroF1Kernel(y, p);
    },
  }),
  rmse: define({
    name: 'rmse',
    kind: 'regression',
    input: 'real',
    higherIsBetter: false,
    summary: 'root mean squared error',
    prepare: rowMean('rmse', 'real', (y, p) => (y - p) ** 2, Math.sqrt),
  }),
  mae: define({
    name: 'mae',
    kind: 'regression',
    input: 'real',
    higherIsBetter: false,
    summary: 'mean absolute error',
    prepare: rowMean('mae', 'real', (y, p) => Math.abs(y - p)),
  }),
  r2: define({
    name: 'r2',
    kind: 'regression',
    input: 'real',
    higherIsBetter: true,
    summary: 'coefficient of determination, 1 − SS_res / SS_tot',
    undefinedWhen: 'the actual values are constant (nothing to explain)',
    prepare: (yIn, pIn) => {
      const { y, p } = checkPair('r2', 'real', yIn, pIn);
      return r2Kernel(y, p);
    },
  }),
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;

export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

export function isMetricName(name: string): name is MetricName {
  return Object.hasOwn(METRICS, name);
}

/** The definition of a metric named in a suite; INVALID_INPUT naming it and the closest known name. */
export function getMetric(name: string): MetricDefinition {
  if (isMetricName(name)) return METRICS[name];
  const guess = closestName(name, METRIC_NAMES);
  throw new CairnError('INVALID_INPUT', `unknown metric "${name}"${guess ? `; did you mean "${guess}"?` : ''}`, {
    data: { metric: name, suggestion: guess ?? null, known: METRIC_NAMES },
    hint: `Known metrics: ${METRIC_NAMES.join(', ')}.`,
  });
}

/** A metric given by name or definition, as the bootstrap and slice functions take it. */
export type MetricRef = string | MetricDefinition;

export function resolveMetric(metric: MetricRef): MetricDefinition {
  return typeof metric === 'string' ? getMetric(metric) : metric;
}

/**
 * Codes arbitrary class labels for multiclass_accuracy: equal labels get equal codes. Labels
 * match by their text form (String(v)), so 3 and "3" are one class — scores read from CSV and
 * labels from Parquet should agree, not silently score 0. null/undefined are refused.
 */
export function encodeLabels(
  actual: ArrayLike<unknown>,
  predicted: ArrayLike<unknown>,
): { y: Float64Array; p: Float64Array; classes: string[] } {
  const codes = new Map<string, number>();
  const classes: string[] = [];
  const encode = (values: ArrayLike<unknown>, what: string): Float64Array => {
    const out = new Float64Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || v === undefined || typeof v === 'object' || typeof v === 'function' || typeof v === 'symbol') {
        throw new CairnError(
          'INVALID_INPUT',
          `multiclass_accuracy: row ${i}: ${what} label ${String(v)} is not a string, number or boolean`,
          {
            data: { metric: 'multiclass_accuracy', row: i },
          },
        );
      }
      const text = String(v);
      let code = codes.get(text);
      if (code === undefined) {
        code = classes.length;
        codes.set(text, code);
        classes.push(text);
      }
      out[i] = code;
    }
    return out;
  };
  const y = encode(actual, 'actual');
  const p = encode(predicted, 'predicted');
  return { y, p, classes };
}

// Named functions for callers that know the metric at compile time.
export const accuracy = (y: NumericColumn, p: NumericColumn, options?: MetricOptions): number =>
  METRICS.accuracy.compute(y, p, options);
export const precision = (y: NumericColumn, p: NumericColumn, options?: MetricOptions): number =>
  METRICS.precision.compute(y, p, options);
export const recall = (y: NumericColumn, p: NumericColumn, options?: MetricOptions): number =>
  METRICS.recall.compute(y, p, options);
export const f1Score = (y: NumericColumn, p: NumericColumn, options?: MetricOptions): number =>
  METRICS.f1.compute(y, p, options);
export const rocAuc = (y: NumericColumn, p: NumericColumn): number => METRICS.roc_auc.compute(y, p);
export const logLoss = (y: NumericColumn, p: NumericColumn): number => METRICS.log_loss.compute(y, p);
export const expectedCalibrationError = (y: NumericColumn, p: NumericColumn, options?: MetricOptions): number =>
  METRICS.ece.compute(y, p, options);
export const brierScore = (y: NumericColumn, p: NumericColumn): number => METRICS.brier.compute(y, p);
export const rmse = (y: NumericColumn, p: NumericColumn): number => METRICS.rmse.compute(y, p);
export const mae = (y: NumericColumn, p: NumericColumn): number => METRICS.mae.compute(y, p);
export const r2 = (y: NumericColumn, p: NumericColumn): number => METRICS.r2.compute(y, p);

export function multiclassAccuracy(actual: ArrayLike<unknown>, predicted: ArrayLike<unknown>): number {
  const { y, p } = encodeLabels(actual, predicted);
  return METRICS.multiclass_accuracy.compute(y, p);
}
