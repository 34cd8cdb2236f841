import { describe, expect, it } from 'vitest';
import { CairnError } from '../../../core/errors.js';
import {
  METRICS,
  METRIC_NAMES,
  accuracy,
  brierScore,
  encodeLabels,
  expectedCalibrationError,
  f1Score,
  getMetric,
  logLoss,
  mae,
  multiclassAccuracy,
  precision,
  r2,
  recall,
  rmse,
  rocAuc,
} from './metrics.js';
import { Xoshiro128 } from './prng.js';
import { closestName, levenshtein } from './suggest.js';

function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('threshold metrics', () => {
  // Hand count at threshold 0.5 (strictly above is positive, so 0.5 is negative):
  // predicted 1 1 0 1 0 1 1 0 → TP rows 0,1,6 = 3; FN row 2 = 1; FP rows 3,5 = 2; TN rows 4,7 = 2.
  const y = [1, 1, 1, 0, 0, 0, 1, 0];
  const p = [0.9, 0.6, 0.4, 0.7, 0.2, 0.55, 0.51, 0.5];

  it('computes accuracy, precision, recall and F1 from the confusion matrix', () => {
    expect(accuracy(y, p)).toBe(5 / 8);
    expect(precision(y, p)).toBe(3 / 5);
    expect(recall(y, p)).toBe(3 / 4);
    expect(f1Score(y, p)).toBe(6 / 9);
  });

  it('uses the threshold given, strictly', () => {
    // At 0.6: predicted 1 0 0 1 0 0 0 0 → TP 1, FP 1, FN 3, TN 3.
    expect(accuracy(y, p, { threshold: 0.6 })).toBe(4 / 8);
    expect(precision(y, p, { threshold: 0.6 })).toBe(1 / 2);
    expect(recall(y, p, { threshold: 0.6 })).toBe(1 / 4);
    expect(f1Score(y, p, { threshold: 0.6 })).toBe(2 / 6);
  });

  it('gives 0 for a zero denominator, as scikit-learn does', () => {
    expect(precision([1, 0], [0.1, 0.2])).toBe(0);
    expect(recall([0, 0], [0.9, 0.2])).toBe(0);
    expect(f1Score([0, 0], [0.1, 0.2])).toBe(0);
  });
});

describe('roc_auc', () => {
  it('matches the textbook case (scikit-learn roc_auc_score example: 0.75)', () => {
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBe(0.75);
  });

  it('counts a tied positive–negative pair as one half (average ranks)', () => {
    // Pairs: (0.5 vs 0.5) ½, (0.5 vs 0.2) 1, (0.9 vs 0.5) 1, (0.9 vs 0.2) 1 → 3.5 / 4.
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBe(0.875);
    expect(rocAuc([0, 1, 0, 1, 1], [0.3, 0.3, 0.3, 0.3, 0.3])).toBe(0.5);
  });

  it('is 1 for a perfect ranking and 0 for a reversed one, whatever the row order', () => {
    expect(rocAuc([1, 0, 1, 0], [0.8, 0.1, 0.9, 0.2])).toBe(1);
    expect(rocAuc([1, 0, 1, 0], [0.1, 0.8, 0.2, 0.9])).toBe(0);
  });

  it('agrees with counting every positive–negative pair, with heavy ties and counts', () => {
    const g = Xoshiro128.fromSeed(5);
    const n = 300;
    const y = new Float64Array(n);
    const p = new Float64Array(n);
    const counts = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      y[i] = g.index(3) === 0 ? 1 : 0;
      p[i] = g.index(11) / 10; // 11 distinct scores: most pairs tie
      counts[i] = g.index(4);
    }
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (y[i] !== 1 || y[j] !== 0) continue;
        const w = counts[i]! * counts[j]!;
        pairs += w;
        wins += w * (p[i]! > p[j]! ? 1 : p[i] === p[j] ? 0.5 : 0);
      }
    }
    expect(METRICS.roc_auc.prepare(y, p).evaluate(counts)).toBeCloseTo(wins / pairs, 14);
  });

  it('refuses rows of one class: the area is undefined', () => {
    const err = refusal(() => rocAuc([1, 1, 1], [0.2, 0.5, 0.9]));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toBe('roc_auc is undefined for these rows: it needs both a positive and a negative row');
  });
});

describe('probabilistic metrics', () => {
  it('computes log-loss of known probabilities', () => {
    // −(ln 0.9 + ln 0.8 + ln 0.6) / 3
    expect(logLoss([1, 0, 1], [0.9, 0.2, 0.6])).toBeCloseTo(0.2797765635793423, 15);
  });

  it('clips log-loss scores to [1e-15, 1 − 1e-15]', () => {
    expect(logLoss([1], [0])).toBeCloseTo(-Math.log(1e-15), 12); // 34.5388
    expect(logLoss([0], [1])).toBeCloseTo(-Math.log(1 - (1 - 1e-15)), 12);
    expect(Number.isFinite(logLoss([1, 0], [0, 1]))).toBe(true);
  });

  it('computes the Brier score', () => {
    // (0.01 + 0.01 + 0.36 + 0.36) / 4
    expect(brierScore([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.6])).toBeCloseTo(0.185, 15);
  });

  it('computes ECE on a crafted set: a calibrated bin adds 0, a miscalibrated one its weighted gap', () => {
    // Bin [0.2, 0.3): four rows at 0.25, one positive → gap 0.
    // Bin [0.7, 0.8): four rows at 0.75, all positive → gap 0.25, weight 4/8.
    const y = [1, 0, 0, 0, 1, 1, 1, 1];
    const p = [0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75];
    expect(expectedCalibrationError(y, p)).toBe(0.125);
  });

  it('puts a score of exactly 1 in the last bin and a bin edge in the upper bin', () => {
    // 1.0 and 0.95 share [0.9, 1]: |0.5 − 0.975| = 0.475.
    expect(expectedCalibrationError([1, 0], [1, 0.95])).toBeCloseTo(0.475, 15);
    // 0.1 is in [0.1, 0.2), 0.0999 in [0, 0.1): (|1 − 0.1| + |0 − 0.0999|) / 2 (together it would be 0.400025).
    expect(expectedCalibrationError([1, 0], [0.1, 0.0999])).toBeCloseTo(0.49995, 15);
    // With one bin ECE is |mean(y) − mean(p)|.
    expect(expectedCalibrationError([1, 0, 0], [0.9, 0.6, 0.3], { bins: 1 })).toBeCloseTo(0.6 - 1 / 3, 15);
  });
});

describe('regression and multi-class metrics', () => {
  // scikit-learn's documentation example: MAE 0.5, MSE 0.375, R² 0.9486081370449679.
  const y = [3, -0.5, 2, 7];
  const p = [2.5, 0.0, 2, 8];

  it('computes rmse, mae and r2', () => {
    expect(mae(y, p)).toBe(0.5);
    expect(rmse(y, p)).toBeCloseTo(Math.sqrt(0.375), 15);
    expect(r2(y, p)).toBeCloseTo(0.9486081370449679, 14);
  });

  it('refuses r2 of constant actual values, even when their float mean is off by an ulp', () => {
    expect(refusal(() => r2([0.1, 0.1, 0.1], [0.1, 0.2, 0.3])).message).toMatch(/r2 is undefined .*constant/);
  });

  it('scores arbitrary labels, matching by text (3 and "3" are one class)', () => {
    expect(multiclassAccuracy(['cat', 'dog', 'bird', 3, '3'], ['cat', 'bird', 'bird', '3', 3])).toBe(0.8);
    const { y: yc, p: pc, classes } = encodeLabels(['b', 'a', true], ['a', 'true', 'c']);
    expect(Array.from(yc)).toEqual([0, 1, 2]);
    expect(Array.from(pc)).toEqual([1, 2, 3]);
    expect(classes).toEqual(['b', 'a', 'true', 'c']);
    expect(refusal(() => multiclassAccuracy(['a', null], ['a', 'b'])).message).toMatch(/row 1: actual label null/);
  });
});

describe('input checks', () => {
  it('names the metric, the row and the value', () => {
    const e1 = refusal(() => accuracy([0, 2], [0.1, 0.2]));
    expect(e1.code).toBe('INVALID_INPUT');
    expect(e1.message).toBe('accuracy: row 1: label 2 must be 0 or 1');
    expect(refusal(() => logLoss([0, 1], [0.1, 1.2])).message).toBe(
      'log_loss: row 1: score 1.2 must be a probability in [0, 1]',
    );
    expect(refusal(() => brierScore([0, 1], [NaN, 0.5])).message).toBe(
      'brier: row 0: score NaN must be a probability in [0, 1]',
    );
    expect(refusal(() => rmse([1, Infinity], [1, 2])).message).toBe(
      'rmse: row 1: actual value Infinity must be a finite number',
    );
    expect(refusal(() => f1Score([0, 1], [0.5])).message).toBe(
      'f1: 2 labels but 1 predictions; they must be the same rows',
    );
    expect(refusal(() => mae([], [])).message).toBe('mae: no rows to evaluate');
    expect(refusal(() => accuracy([0], [0.5], { threshold: 2 })).message).toBe(
      'accuracy: threshold 2 is not in [0, 1]',
    );
    expect(refusal(() => expectedCalibrationError([0], [0.5], { bins: 0 })).message).toMatch(
      /bins 0 is not an integer/,
    );
  });
});

describe('the registry', () => {
  it('says which direction is better for every metric', () => {
    const lowerIsBetter = METRIC_NAMES.filter((n) => !METRICS[n].higherIsBetter).sort();
    expect(lowerIsBetter).toEqual(['brier', 'ece', 'log_loss', 'mae', 'rmse']);
    expect(METRICS.rmse.kind).toBe('regression');
    expect(METRICS.roc_auc.kind).toBe('classification');
    for (const n of METRIC_NAMES) expect(METRICS[n].name).toBe(n);
  });

  it('refuses a misspelled metric in a suite, naming it and the closest known name', () => {
    const err = refusal(() => getMetric('roc_acu'));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toBe('unknown metric "roc_acu"; did you mean "roc_auc"?');
    expect(err.hint).toContain('accuracy, precision, recall, f1, roc_auc');
    expect(err.data).toMatchObject({ metric: 'roc_acu', suggestion: 'roc_auc' });
    expect(refusal(() => getMetric('F1')).message).toBe('unknown metric "F1"; did you mean "f1"?');
    expect(refusal(() => getMetric('logloss')).message).toContain('did you mean "log_loss"?');
    // Not fooled by Object.prototype.
    expect(refusal(() => getMetric('constructor')).message).toMatch(/^unknown metric "constructor"/);
    expect(getMetric('brier')).toBe(METRICS.brier);
  });

  it('computes Levenshtein distances', () => {
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('flaw', 'lawn')).toBe(2);
    expect(closestName('recal', ['precision', 'recall'])).toBe('recall');
    expect(closestName('x', [])).toBeUndefined();
  });

  it('evaluates with counts exactly as on the rows repeated that often (what the bootstrap relies on)', () => {
    const y = [1, 0, 1, 0, 1, 0, 0, 1];
    const p = [0.9, 0.3, 0.45, 0.55, 0.7, 0.1, 0.7, 0.2];
    const counts = Uint32Array.from([2, 0, 1, 3, 0, 1, 2, 1]);
    const ry: number[] = [];
    const rp: number[] = [];
    counts.forEach((c, i) => {
      for (let k = 0; k < c; k++) {
        ry.push(y[i]!);
        rp.push(p[i]!);
      }
    });
    for (const name of ['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'log_loss', 'ece', 'brier'] as const) {
      expect(METRICS[name].prepare(y, p).evaluate(counts), name).toBeCloseTo(METRICS[name].compute(ry, rp), 14);
    }
    for (const name of ['rmse', 'mae', 'r2'] as const) {
      expect(METRICS[name].prepare(y, p).evaluate(counts), name).toBeCloseTo(METRICS[name].compute(ry, rp), 14);
    }
  });
});
