import { describe, expect, it } from 'vitest';
import { scoreOrder } from './order.js';
import { Xoshiro128 } from './prng.js';

function reference(y: Float64Array, p: Float64Array): number[] {
  return Array.from(p.keys()).sort((a, b) => p[a]! - p[b]! || y[a]! - y[b]! || a - b);
}

describe('scoreOrder', () => {
  it('sorts by score, negatives first within a tie, then by row — as the comparator sort does', () => {
    const g = Xoshiro128.fromSeed(9);
    const u = () => g.next() / 2 ** 32;
    const n = 5000;
    const y = new Float64Array(n);
    const cases: Record<string, (i: number) => number> = {
      continuous: () => u(),
      float32: () => Math.fround(u()),
      'heavy ties': () => Math.round(u() * 10) / 10,
      extremes: (i) => [0, 1, -0, 1e-300, 0.5, 1 - 2 ** -53][i % 6]!,
    };
    for (const [name, score] of Object.entries(cases)) {
      const p = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        y[i] = u() < 0.3 ? 1 : 0;
        p[i] = score(i);
      }
      expect(Array.from(scoreOrder(y, p)), name).toEqual(reference(y, p));
    }
  });

  it('handles no rows, one row and all-equal scores', () => {
    expect(Array.from(scoreOrder(new Float64Array(0), new Float64Array(0)))).toEqual([]);
    expect(Array.from(scoreOrder(Float64Array.of(1), Float64Array.of(0.3)))).toEqual([0]);
    expect(Array.from(scoreOrder(Float64Array.of(1, 0, 1, 0), Float64Array.of(0.5, 0.5, 0.5, 0.5)))).toEqual([
      1, 3, 0, 2,
    ]);
  });
});
