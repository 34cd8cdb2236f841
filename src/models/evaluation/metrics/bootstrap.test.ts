import { describe, expect, it } from 'vitest';
import { CairnError } from '../../../core/errors.js';
import {
  bootstrapCI,
  bootstrapCIs,
  bootstrapEvaluate,
  nonRegression,
  pairedBootstrapDelta,
  pairedBootstrapDeltas,
  quantile,
} from './bootstrap.js';
import { METRICS } from './metrics.js';
import { Xoshiro128 } from './prng.js';

function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('accepted');
}

/** A deterministic, imperfect classifier: 2,000 rows, 30 % positive, noisy scores. */
function dataset(n = 2000, seed = 1): { y: Float64Array; p: Float64Array; q: Float64Array } {
  const g = Xoshiro128.fromSeed(seed);
  const u = () => g.next() / 2 ** 32;
  const y = new Float64Array(n);
  const p = new Float64Array(n);
  const q = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = u() < 0.3 ? 1 : 0;
    const z = (u() - 0.5) * 4 + (y[i] ? 1 : -1);
    p[i] = 1 / (1 + Math.exp(-z));
    q[i] = 1 / (1 + Math.exp(-(z + (u() - 0.5) * 2)));
  }
  return { y, p, q };
}

const { y, p, q } = dataset();
const opts = { resamples: 200, seed: 42 };

describe('bootstrapCI', () => {
  it('is deterministic: the same seed gives identical intervals, another seed different ones', () => {
    const a = bootstrapCI('roc_auc', y, p, opts);
    const b = bootstrapCI('roc_auc', y, p, opts);
    expect(b).toEqual(a);
    const c = bootstrapCI('roc_auc', y, p, { ...opts, seed: 43 });
    expect(c.value).toBe(a.value);
    expect([c.lo, c.hi, c.se]).not.toEqual([a.lo, a.hi, a.se]);
  });

  it('contains the point estimate, which is the metric on all rows', () => {
    const all = bootstrapCIs(
      ['accuracy', 'precision', 'recall', 'f1', 'roc_auc', 'log_loss', 'ece', 'brier'],
      y,
      p,
      opts,
    );
    for (const [name, ci] of Object.entries(all)) {
      expect(ci.value, name).toBe(METRICS[name as 'accuracy'].compute(y, p));
      expect(ci.lo, name).toBeLessThanOrEqual(ci.value);
      expect(ci.hi, name).toBeGreaterThanOrEqual(ci.value);
      expect(ci.se, name).toBeGreaterThan(0);
      expect(ci.hi - ci.lo, name).toBeLessThan(0.2);
      expect(ci).toMatchObject({
        method: 'percentile',
        resamples: 200,
        confidence: 0.95,
        seed: 42,
        undefinedResamples: 0,
      });
    }
    expect(all.log_loss!.higherIsBetter).toBe(false);
  });

  it('gives each metric the same resamples whether computed alone or with others', () => {
    const together = bootstrapCIs(['f1', 'accuracy', 'roc_auc'], y, p, opts);
    expect(bootstrapCI('accuracy', y, p, opts)).toEqual(together.accuracy);
    expect(bootstrapCI('roc_auc', y, p, opts)).toEqual(together.roc_auc);
    const evaluation = bootstrapEvaluate(
      { y, p, metrics: ['accuracy'], champion: { p: q, metrics: ['accuracy'] } },
      opts,
    );
    expect(evaluation.intervals.accuracy).toEqual(together.accuracy);
    const { value, lo, hi, se } = together.accuracy!;
    expect(evaluation.deltas.accuracy!.candidate).toEqual({ value, lo, hi, se });
  });

  it('narrows with a lower confidence level', () => {
    const wide = bootstrapCI('f1', y, p, { ...opts, confidence: 0.99 });
    const narrow = bootstrapCI('f1', y, p, { ...opts, confidence: 0.5 });
    expect(narrow.lo).toBeGreaterThan(wide.lo);
    expect(narrow.hi).toBeLessThan(wide.hi);
    expect(narrow.se).toBe(wide.se);
  });

  it('has zero width when every resample gives the same value', () => {
    const ci = bootstrapCI('accuracy', [1, 0, 1, 0], [0.9, 0.1, 0.8, 0.2], opts);
    expect(ci).toMatchObject({ value: 1, lo: 1, hi: 1, se: 0 });
  });

  it('drops and counts resamples where the metric is undefined', () => {
    // One positive in 20 rows: about (19/20)^20 ≈ 36 % of resamples miss it.
    const yy = Array.from({ length: 20 }, (_, i) => (i === 0 ? 1 : 0));
    const pp = Array.from({ length: 20 }, (_, i) => (i === 0 ? 0.9 : i / 25));
    const ci = bootstrapCI('roc_auc', yy, pp, { resamples: 500, seed: 3 });
    expect(ci.undefinedResamples).toBeGreaterThan(120);
    expect(ci.undefinedResamples).toBeLessThan(240);
    expect(ci).toMatchObject({ value: 1, lo: 1, hi: 1 });
  });

  it('refuses bad settings and a metric undefined on all rows', () => {
    expect(refusal(() => bootstrapCI('f1', y, p, { seed: -1 })).message).toMatch(/seed -1 must be an integer/);
    expect(refusal(() => bootstrapCI('f1', y, p, { seed: 1.5 })).code).toBe('INVALID_INPUT');
    expect(refusal(() => bootstrapCI('f1', y, p, { confidence: 1 })).message).toMatch(
      /confidence 1 must be between 0 and 1/,
    );
    expect(refusal(() => bootstrapCI('f1', y, p, { resamples: 1 })).message).toMatch(/resamples 1 must be an integer/);
    expect(refusal(() => bootstrapCI('roc_auc', [1, 1], [0.2, 0.3])).message).toBe(
      'roc_auc of the candidate is undefined for these rows: it needs both a positive and a negative row',
    );
    expect(refusal(() => bootstrapCI('f_1', y, p)).message).toBe('unknown metric "f_1"; did you mean "f1"?');
  });
});

describe('quantile (type 7, numpy default)', () => {
  it('interpolates between order statistics', () => {
    const v = Float64Array.from([1, 2, 3, 4]);
    expect(quantile(v, 0.25)).toBe(1.75);
    expect(quantile(v, 0.5)).toBe(2.5);
    expect(quantile(v, 0)).toBe(1);
    expect(quantile(v, 1)).toBe(4);
    expect(quantile(Float64Array.from([5]), 0.975)).toBe(5);
  });
});

describe('pairedBootstrapDelta', () => {
  it('is exactly 0 with a zero-width interval for identical predictions', () => {
    const all = pairedBootstrapDeltas(
      ['accuracy', 'f1', 'roc_auc', 'log_loss', 'ece', 'brier'],
      y,
      p,
      Float64Array.from(p),
      opts,
    );
    for (const [name, d] of Object.entries(all)) {
      expect(d.delta, name).toEqual({ value: 0, lo: 0, hi: 0, se: 0 });
      expect(d.candidate, name).toEqual(d.champion);
    }
  });

  it('is candidate − champion on the same resampled rows, narrower than independent intervals', () => {
    const d = pairedBootstrapDelta('roc_auc', y, p, q, opts);
    expect(d.delta.value).toBe(METRICS.roc_auc.compute(y, p) - METRICS.roc_auc.compute(y, q));
    expect(d.delta.value).toBeGreaterThan(0); // q is p with extra noise
    expect(d.delta.lo).toBeLessThanOrEqual(d.delta.value);
    expect(d.delta.hi).toBeGreaterThanOrEqual(d.delta.value);
    // Pairing cancels the resampling noise the two models share.
    expect(d.delta.se).toBeLessThan(Math.hypot(d.candidate.se, d.champion.se));
    const swapped = pairedBootstrapDelta('roc_auc', y, q, p, opts);
    expect(swapped.delta.value).toBe(-d.delta.value);
    expect(swapped.delta.lo).toBeCloseTo(-d.delta.hi, 15);
    expect(swapped.delta.hi).toBeCloseTo(-d.delta.lo, 15);
  });

  it('is deterministic', () => {
    expect(pairedBootstrapDelta('brier', y, p, q, opts)).toEqual(pairedBootstrapDelta('brier', y, p, q, opts));
  });

  it('refuses a champion of another length', () => {
    expect(refusal(() => pairedBootstrapDelta('f1', y, p, p.subarray(1), opts)).message).toBe(
      'f1: 2000 labels but 1999 predictions; they must be the same rows',
    );
  });
});

describe('nonRegression', () => {
  it('passes a higher-is-better metric iff the lower bound of candidate − champion ≥ −margin', () => {
    expect(nonRegression({ delta: { lo: -0.004, hi: 0.01 }, margin: 0.005, higherIsBetter: true })).toEqual({
      pass: true,
      bound: 'lo',
      boundValue: -0.004,
      limit: -0.005,
      rule: 'lower bound of (candidate − champion) ≥ −0.005',
    });
    expect(nonRegression({ delta: { lo: -0.005, hi: 0.01 }, margin: 0.005, higherIsBetter: true }).pass).toBe(true);
    expect(nonRegression({ delta: { lo: -0.006, hi: 0.01 }, margin: 0.005, higherIsBetter: true }).pass).toBe(false);
    expect(nonRegression({ delta: { lo: 0, hi: 0 }, margin: 0, higherIsBetter: true }).pass).toBe(true);
    expect(nonRegression({ delta: { lo: -1e-12, hi: 0 }, margin: 0, higherIsBetter: true }).pass).toBe(false);
  });

  it('mirrors for a lower-is-better metric: the upper bound must be ≤ +margin', () => {
    expect(nonRegression({ delta: { lo: -0.02, hi: 0.004 }, margin: 0.005, higherIsBetter: false })).toEqual({
      pass: true,
      bound: 'hi',
      boundValue: 0.004,
      limit: 0.005,
      rule: 'upper bound of (candidate − champion) ≤ 0.005',
    });
    expect(nonRegression({ delta: { lo: -0.02, hi: 0.006 }, margin: 0.005, higherIsBetter: false }).pass).toBe(false);
    // A large improvement of a lower-is-better metric has a very negative lo: irrelevant.
    expect(nonRegression({ delta: { lo: -5, hi: -1 }, margin: 0, higherIsBetter: false }).pass).toBe(true);
  });

  it('fails an interval with NaN ends and refuses a negative or infinite margin', () => {
    expect(nonRegression({ delta: { lo: NaN, hi: NaN }, margin: 0.1, higherIsBetter: true }).pass).toBe(false);
    expect(nonRegression({ delta: { lo: NaN, hi: NaN }, margin: 0.1, higherIsBetter: false }).pass).toBe(false);
    expect(refusal(() => nonRegression({ delta: { lo: 0, hi: 0 }, margin: -0.01, higherIsBetter: true })).code).toBe(
      'INVALID_INPUT',
    );
    expect(refusal(() => nonRegression({ delta: { lo: 0, hi: 0 }, margin: Infinity, higherIsBetter: true })).code).toBe(
      'INVALID_INPUT',
    );
  });

  it('gates a real paired delta: a worse candidate fails without margin, passes with a generous one', () => {
    const d = pairedBootstrapDelta('roc_auc', y, q, p, opts); // q is worse
    expect(d.delta.hi).toBeLessThan(0);
    expect(nonRegression({ delta: d.delta, margin: 0, higherIsBetter: d.higherIsBetter }).pass).toBe(false);
    expect(nonRegression({ delta: d.delta, margin: 0.2, higherIsBetter: d.higherIsBetter }).pass).toBe(true);
    const ll = pairedBootstrapDelta('log_loss', y, q, p, opts);
    expect(ll.delta.lo).toBeGreaterThan(0);
    expect(nonRegression({ delta: ll.delta, margin: 0, higherIsBetter: ll.higherIsBetter }).pass).toBe(false);
  });
});
