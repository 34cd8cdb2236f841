/**
 * Input checking for the metrics. Every metric validates once, when it is prepared, so the hot
 * loops (a bootstrap evaluates each prepared metric 1,000 times) can trust their arrays.
 * Errors are INVALID_INPUT and name the metric, the row and the value: a bad score file should be
 * fixable from the message alone.
 */
import { CairnError } from '../../../core/errors.js';

/** Numbers per row: a Float64Array is used as is (no copy); anything else is copied into one. */
export type NumericColumn = Float64Array | ArrayLike<number>;

/**
 * What a metric's `y` and `p` must hold:
 *   binary  y ∈ {0, 1}, p a probability of class 1 in [0, 1]
 *   labels  y and p class codes (any finite numbers compared for equality; see encodeLabels)
 *   real    y and p any finite numbers (regression)
 */
export type MetricInput = 'binary' | 'labels' | 'real';

export interface MetricOptions {
  /** A row is predicted positive when its score is strictly above this (default 0.5). */
  threshold?: number;
  /** Equal-width bins of the expected calibration error (default 10). */
  bins?: number;
}

export const DEFAULT_THRESHOLD = 0.5;
/** Sums of counts are int32 in the kernels (see kernels.ts); 2^31 − 1 rows is far beyond memory anyway. */
export const MAX_ROWS = 2 ** 31 - 1;
export const DEFAULT_BINS = 10;

export function toFloat64(values: NumericColumn): Float64Array {
  return values instanceof Float64Array ? values : Float64Array.from(values as ArrayLike<number>);
}

/** Checks y and p for one metric and returns them as Float64Arrays. */
export function checkPair(
  metric: string,
  input: MetricInput,
  yIn: NumericColumn,
  pIn: NumericColumn,
): { y: Float64Array; p: Float64Array } {
  const y = toFloat64(yIn);
  const p = toFloat64(pIn);
  if (y.length !== p.length) {
    throw new CairnError(
      'INVALID_INPUT',
      `${metric}: ${y.length} labels but ${p.length} predictions; they must be the same rows`,
      {
        data: { metric, labels: y.length, predictions: p.length },
      },
    );
  }
  if (y.length === 0) {
    throw new CairnError('INVALID_INPUT', `${metric}: no rows to evaluate`, { data: { metric } });
  }
  if (y.length > MAX_ROWS) {
    throw new CairnError('INVALID_INPUT', `${metric}: ${y.length} rows is more than the ${MAX_ROWS} supported`, {
      data: { metric, rows: y.length },
    });
  }
  for (let i = 0; i < y.length; i++) {
    const a = y[i]!;
    const b = p[i]!;
    if (input === 'binary') {
      if (a !== 0 && a !== 1) bad(metric, i, 'label', a, 'must be 0 or 1');
      if (!(b >= 0 && b <= 1)) bad(metric, i, 'score', b, 'must be a probability in [0, 1]');
    } else {
      if (!Number.isFinite(a))
        bad(metric, i, input === 'labels' ? 'label' : 'actual value', a, 'must be a finite number');
      if (!Number.isFinite(b))
        bad(metric, i, input === 'labels' ? 'predicted label' : 'prediction', b, 'must be a finite number');
    }
  }
  return { y, p };
}

export function checkOptions(metric: string, options: MetricOptions | undefined): { threshold: number; bins: number } {
  const threshold = options?.threshold ?? DEFAULT_THRESHOLD;
  const bins = options?.bins ?? DEFAULT_BINS;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new CairnError('INVALID_INPUT', `${metric}: threshold ${threshold} is not in [0, 1]`, {
      data: { metric, threshold },
    });
  }
  if (!Number.isInteger(bins) || bins < 1 || bins > 65535) {
    throw new CairnError('INVALID_INPUT', `${metric}: bins ${bins} is not an integer from 1 to 65535`, {
      data: { metric, bins },
    });
  }
  return { threshold, bins };
}

function bad(metric: string, row: number, what: string, value: number, rule: string): never {
  throw new CairnError('INVALID_INPUT', `${metric}: row ${row}: ${what} ${value} ${rule}`, {
    data: { metric, row, value },
  });
}
