/**
 * The metric kernels. Each metric is split into `prepare` (once per data set: validation,
 * per-row quantities, the sort for ROC-AUC) and `evaluate(counts)` (per bootstrap resample: one
 * pass over typed arrays with row i counted counts[i] times, no allocation). With counts all 1
 * this is the plain metric, so the point estimate and the resamples run the same arithmetic.
 *
 * Sums of counts are kept in int32 (`| 0`): V8 then runs the loops on integer registers, and a
 * chain of dependent float additions (4 cycles each) was the floor of these loops — 3–4× slower
 * for ROC-AUC. It is exact while the counts sum to less than 2^31, which MAX_ROWS guarantees for
 * the plain metric and the bootstrap (whose counts sum to the number of rows).
 *
 * evaluate returns NaN where the metric is undefined for the rows given (ROC-AUC with one
 * class, R² with constant actual values); callers decide whether that is an error (a plain
 * computation), a dropped resample (the bootstrap) or a failed check (a slice).
 */
import { scoreOrder } from './order.js';

export interface PreparedMetric {
  /** The number of rows prepared; counts passed to evaluate must have this length. */
  readonly rows: number;
  /** The metric with row i counted counts[i] times (default: every row once); Σ counts < 2^31. */
  evaluate(counts?: Uint32Array): number;
}

/** counts of all 1: the plain metric. Allocated per call: plain evaluation is not a hot path. */
export function ones(n: number): Uint32Array {
  return new Uint32Array(n).fill(1);
}

/**
 * Σ cᵢ·vᵢ / Σ cᵢ, then `finish`. Log-loss, Brier, MAE, RMSE (finish = sqrt) and multi-class
 * accuracy (v = 1 for a correct row) are all a weighted mean of a per-row quantity computed in prepare.
 */
export function meanOfRows(values: Float64Array, finish?: (mean: number) => number): PreparedMetric {
  const n = values.length;
  return {
    rows: n,
    evaluate(counts = ones(n)) {
      let s = 0;
      let w = 0;
      for (let i = 0; i < n; i++) {
        const c = counts[i]! | 0;
        s += c * values[i]!;
        w = (w + c) | 0;
      }
      const mean = s / w;
      return finish ? finish(mean) : mean;
    },
  };
}

/** Confusion-matrix cell of each row: 2·label + predicted, i.e. 0 TN, 1 FP, 2 FN, 3 TP. */
export function confusionCodes(y: Float64Array, p: Float64Array, threshold: number): Uint8Array {
  const code = new Uint8Array(y.length);
  for (let i = 0; i < y.length; i++) code[i] = 2 * y[i]! + (p[i]! > threshold ? 1 : 0);
  return code;
}

export type ConfusionFormula = (tn: number, fp: number, fn: number, tp: number) => number;

/**
 * The weighted confusion matrix into out = [TN, FP, FN, TP]. Sums of products of bits rather than
 * `cells[code] += c`: the indexed form stalls on back-to-back updates of the same cell, and a
 * branch on the random code mispredicts.
 */
export function confusionTotals(code: Uint8Array, counts: Uint32Array, out: Float64Array): void {
  let w = 0;
  let predicted = 0;
  let actual = 0;
  let tp = 0;
  for (let i = 0; i < code.length; i++) {
    const k = code[i]!;
    const c = counts[i]! | 0;
    w = (w + c) | 0;
    predicted = (predicted + c * (k & 1)) | 0;
    actual = (actual + c * (k >> 1)) | 0;
    tp = (tp + c * ((k >> 1) & k & 1)) | 0;
  }
  out[0] = w - predicted - actual + tp;
  out[1] = predicted - tp;
  out[2] = actual - tp;
  out[3] = tp;
}

/** A metric of the weighted confusion matrix (accuracy, precision, recall, F1). */
export function confusionMetric(code: Uint8Array, formula: ConfusionFormula): PreparedMetric {
  const n = code.length;
  const cells = new Float64Array(4);
  return {
    rows: n,
    evaluate(counts = ones(n)) {
      confusionTotals(code, counts, cells);
      return formula(cells[0]!, cells[1]!, cells[2]!, cells[3]!);
    },
  };
}

/**
 * Exact ROC-AUC, the Mann–Whitney statistic: the probability that a random positive scores
 * above a random negative, a tied pair counting one half (the same as averaging tied ranks).
 * With counts it is the AUC of the resample (copies of a row tie only with themselves, so never
 * as a positive–negative pair).
 *
 * Rows are sorted once by score, negatives before positives among equal scores. Walking that
 * order, each positive copy is credited with every negative copy before it: all negatives below
 * its score and all tied ones, so ties are over-credited by exactly ½ · tiedPositives · tiedNegatives
 * per group of equal scores, which a second loop over the tied groups alone subtracts. The main
 * loop is then the same with or without ties, and ties cost in proportion to the tied rows.
 */
export function rocAucKernel(y: Float64Array, p: Float64Array): PreparedMetric {
  const n = y.length;
  // Negatives first within a tie (the correction relies on it), then by row: see order.ts.
  const order = scoreOrder(y, p);
  const positive = new Uint8Array(n);
  for (let k = 0; k < n; k++) positive[k] = y[order[k]!]!;
  // [start, end) sorted positions of each group of ≥ 2 equal scores.
  const tied: number[] = [];
  for (let k = 1; k < n; k++) {
    if (p[order[k]!]! !== p[order[k - 1]!]!) continue;
    if (tied.length > 0 && tied[tied.length - 1] === k) tied[tied.length - 1] = k + 1;
    else tied.push(k - 1, k + 1);
  }
  const ties = Uint32Array.from(tied);
  return {
    rows: n,
    evaluate(counts = ones(n)) {
      let negBelow = 0;
      let pos = 0;
      // Two accumulators: one float sum is a chain of 4-cycle additions, the loop's floor.
      let area0 = 0;
      let area1 = 0;
      let k = 0;
      for (; k + 1 < n; k += 2) {
        const c0 = counts[order[k]!]! | 0;
        const a0 = (c0 * positive[k]!) | 0;
        area0 += a0 * negBelow;
        negBelow = (negBelow + c0 - a0) | 0;
        const c1 = counts[order[k + 1]!]! | 0;
        const a1 = (c1 * positive[k + 1]!) | 0;
        area1 += a1 * negBelow;
        negBelow = (negBelow + c1 - a1) | 0;
        pos = (pos + a0 + a1) | 0;
      }
      if (k < n) {
        const c = counts[order[k]!]! | 0;
        const a = (c * positive[k]!) | 0;
        area0 += a * negBelow;
        negBelow = (negBelow + c - a) | 0;
        pos = (pos + a) | 0;
      }
      let over = 0;
      for (let t = 0; t < ties.length; t += 2) {
        let tiePos = 0;
        let tieNeg = 0;
        for (let j = ties[t]!, end = ties[t + 1]!; j < end; j++) {
          const c = counts[order[j]!]! | 0;
          const a = (c * positive[j]!) | 0;
          tiePos = (tiePos + a) | 0;
          tieNeg = (tieNeg + c - a) | 0;
        }
        over += tiePos * tieNeg;
      }
      return pos === 0 || negBelow === 0 ? NaN : (area0 + area1 - 0.5 * over) / (pos * negBelow);
    },
  };
}

/**
 * Expected calibration error of the positive-class probability: rows fall into `bins`
 * equal-width bins by score, bin b = min(bins − 1, floor(bins · p)) — so [0, 0.1), [0.1, 0.2), …,
 * [0.9, 1] for 10 bins, a score of exactly 1 in the last — and
 *
 *   ECE = Σ_b (n_b / n) · |mean(y in b) − mean(p in b)| = Σ_b |Σ_{i∈b} (yᵢ − pᵢ)| / n,
 *
 * empty bins contributing 0. This is the reliability diagram of P(y = 1) (scikit-learn's
 * calibration_curve with strategy 'uniform'), not the top-label "confidence" ECE of multi-class
 * papers, which bins max(p, 1 − p) instead.
 */
export function eceKernel(y: Float64Array, p: Float64Array, bins: number): PreparedMetric {
  const n = y.length;
  const bin = new Uint16Array(n);
  const gap = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    bin[i] = Math.min(bins - 1, Math.floor(bins * p[i]!));
    gap[i] = y[i]! - p[i]!;
  }
  const sums = new Float64Array(bins);
  return {
    rows: n,
    evaluate(counts = ones(n)) {
      sums.fill(0);
      let w = 0;
      for (let i = 0; i < n; i++) {
        const c = counts[i]! | 0;
        sums[bin[i]!]! += c * gap[i]!;
        w = (w + c) | 0;
      }
      let total = 0;
      for (let b = 0; b < bins; b++) total += Math.abs(sums[b]!);
      return total / w;
    },
  };
}

/**
 * R² = 1 − Σ(y − p)² / Σ(y − ȳ)², two passes (the mean first) rather than Σy² − n·ȳ², which
 * cancels badly when the values are large and close. NaN when y is constant (no variance to
 * explain; scikit-learn reports 0 or 1 there, which would let a gate pass on nothing).
 */
export function r2Kernel(y: Float64Array, p: Float64Array): PreparedMetric {
  const n = y.length;
  const sq = new Float64Array(n);
  for (let i = 0; i < n; i++) sq[i] = (y[i]! - p[i]!) ** 2;
  return {
    rows: n,
    evaluate(counts = ones(n)) {
      let w = 0;
      let sy = 0;
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = 0; i < n; i++) {
        const c = counts[i]!;
        if (c === 0) continue;
        const v = y[i]!;
        w += c;
        sy += c * v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      // Constancy is tested on the values, not on Σ(y − ȳ)² = 0: the float mean of equal values
      // can differ from them in the last bit, which would turn "undefined" into a huge negative.
      if (lo === hi) return NaN;
      const mean = sy / w;
      let ssTot = 0;
      let ssRes = 0;
      for (let i = 0; i < n; i++) {
        const c = counts[i]!;
        ssTot += c * (y[i]! - mean) ** 2;
        ssRes += c * sq[i]!;
      }
      return 1 - ssRes / ssTot;
    },
  };
}
