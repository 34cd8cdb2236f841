/**
 * Evaluation metrics for model gates (issue 7): pure functions over typed arrays, no I/O and no
 * dependencies, so `cairn model evaluate` can run them on scores from any source.
 */
export { DEFAULT_BINS, DEFAULT_THRESHOLD, type MetricInput, type MetricOptions, type NumericColumn } from './inputs.js';
export type { PreparedMetric } from './kernels.js';
export { prepareBatch, type PreparedBatch } from './batch.js';
export {
  METRICS,
  METRIC_NAMES,
  LOG_LOSS_EPS,
  getMetric,
  isMetricName,
  resolveMetric,
  encodeLabels,
  accuracy,
  precision,
  recall,
  f1Score,
  rocAuc,
  logLoss,
  expectedCalibrationError,
  brierScore,
  rmse,
  mae,
  r2,
  multiclassAccuracy,
  type MetricDefinition,
  type MetricKind,
  type MetricName,
  type MetricRef,
} from './metrics.js';
export {
  bootstrapEvaluate,
  bootstrapCI,
  bootstrapCIs,
  pairedBootstrapDelta,
  pairedBootstrapDeltas,
  nonRegression,
  quantile,
  DEFAULT_CONFIDENCE,
  DEFAULT_RESAMPLES,
  DEFAULT_SEED,
  type BootstrapEvaluation,
  type BootstrapInput,
  type BootstrapOptions,
  type BootstrapResult,
  type BootstrapSettings,
  type Interval,
  type NonRegressionInput,
  type NonRegressionResult,
  type PairedDelta,
} from './bootstrap.js';
export {
  sliceReport,
  fairnessGaps,
  type FairnessGap,
  type FairnessInput,
  type GroupRate,
  type SliceCheck,
  type SliceCheckResult,
  type SliceReport,
  type SliceReportInput,
  type SliceResult,
} from './slices.js';
export { groupRows, type Columns, type Group, type SliceValue } from './groups.js';
export { PRNG_NAME, Xoshiro128 } from './prng.js';
export { closestName, levenshtein } from './suggest.js';
