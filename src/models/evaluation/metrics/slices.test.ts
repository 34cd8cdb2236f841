import { describe, expect, it } from 'vitest';
import { CairnError } from '../../../core/errors.js';
import { groupRows } from './groups.js';
import { fairnessGaps, sliceReport } from './slices.js';

function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('accepted');
}

// predicted (p > 0.5): 1 0 0 1 1 1 0 0 0; correct: 1 1 0 0 1 1 1 1 1
const y = [1, 0, 1, 0, 1, 1, 0, 0, 0];
const p = [0.9, 0.2, 0.4, 0.6, 0.7, 0.8, 0.1, 0.3, 0.2];
const columns = {
  country: ['DE', 'DE', 'DE', 'FR', 'FR', 'US', 'US', 'US', 'JP'],
  device: ['ios', 'web', 'ios', 'ios', 'web', 'ios', 3, '3', null],
};

describe('sliceReport', () => {
  it('computes every slice exactly and fails the slices below a threshold, a missing required slice and an undefined metric', () => {
    const rep = sliceReport({
      y,
      p,
      columns,
      by: ['country'],
      checks: [{ metric: 'accuracy', min: 0.6 }, { metric: 'roc_auc' }],
      required: [{ country: 'DE' }, { country: 'UK' }],
    });
    expect(rep.pass).toBe(false);
    expect(rep.slices.map((s) => [s.name, s.rows, s.positives, s.required, s.missing, s.pass])).toEqual([
      ['country=DE', 3, 2, true, false, true],
      ['country=FR', 2, 1, false, false, false],
      ['country=JP', 1, 0, false, false, false],
      ['country=UK', 0, 0, true, true, false],
      ['country=US', 3, 1, false, false, true],
    ]);
    expect(rep.slices.map((s) => s.checks.map((c) => c.value))).toEqual([
      [2 / 3, 1],
      [0.5, 1],
      [1, null],
      [null, null],
      [1, 1],
    ]);
    expect(rep.slices[1]!.checks[0]).toEqual({
      metric: 'accuracy',
      value: 0.5,
      min: 0.6,
      max: null,
      pass: false,
      reason: '0.5 < min 0.6',
    });
    expect(rep.slices[0]!.checks[0]).toEqual({ metric: 'accuracy', value: 2 / 3, min: 0.6, max: null, pass: true });
    expect(rep.failures).toEqual([
      'country=FR: accuracy 0.5 < min 0.6',
      'country=JP: roc_auc is undefined on this slice: it needs both a positive and a negative row',
      'country=UK: required slice has no rows',
    ]);
  });

  it('passes when every slice is within bounds, max bounds included', () => {
    const rep = sliceReport({ y, p, columns, by: ['country'], checks: [{ metric: 'brier', max: 0.5 }] });
    expect(rep.pass).toBe(true);
    expect(rep.failures).toEqual([]);
    // DE: ((0.9−1)² + 0.2² + (0.4−1)²) / 3
    expect(rep.slices[0]!.checks[0]!.value).toBeCloseTo((0.01 + 0.04 + 0.36) / 3, 15);
  });

  it('groups by several columns, matching values by text (3 and "3"), null as its own group', () => {
    const rep = sliceReport({
      y,
      p,
      columns,
      by: ['country', 'device'],
      checks: [{ metric: 'accuracy' }],
      required: [
        { country: 'US', device: '3' },
        { country: 'JP', device: null },
      ],
    });
    expect(rep.slices.map((s) => [s.name, s.rows, s.required])).toEqual([
      ['country=DE, device=ios', 2, false],
      ['country=DE, device=web', 1, false],
      ['country=FR, device=ios', 1, false],
      ['country=FR, device=web', 1, false],
      ['country=JP, device=null', 1, true],
      ['country=US, device=3', 2, true],
      ['country=US, device=ios', 1, false],
    ]);
    expect(rep.slices[5]!.key).toEqual({ country: 'US', device: 3 });
    expect(rep.pass).toBe(true);
  });

  it('fails a missing required slice even without checks', () => {
    const rep = sliceReport({ y, p, columns, by: ['country'], checks: [], required: [{ country: 'BR' }] });
    expect(rep.pass).toBe(false);
    expect(rep.failures).toEqual(['country=BR: required slice has no rows']);
  });

  it('refuses an unknown column (with a suggestion), a required slice that does not match the columns, bad bounds', () => {
    expect(refusal(() => sliceReport({ y, p, columns, by: ['contry'], checks: [] })).message).toBe(
      'slices: unknown column "contry"; did you mean "country"?',
    );
    expect(
      refusal(() => sliceReport({ y, p, columns, by: ['country'], checks: [], required: [{ device: 'ios' }] })).message,
    ).toBe(
      'required slice {"device":"ios"} must give a value for exactly the columns country (missing: country) (not grouped by: device)',
    );
    expect(
      refusal(() => sliceReport({ y, p, columns, by: ['country'], checks: [{ metric: 'f1', min: 0.9, max: 0.1 }] }))
        .message,
    ).toBe('slice check f1: min 0.9 is above max 0.1');
    expect(
      refusal(() => sliceReport({ y, p, columns, by: ['country'], checks: [{ metric: 'acuracy' }] })).message,
    ).toBe('unknown metric "acuracy"; did you mean "accuracy"?');
    expect(
      refusal(() => sliceReport({ y, p, columns: { country: ['DE'] }, by: ['country'], checks: [] })).message,
    ).toBe('slices: column "country" has 1 values for 9 rows');
    // A bad label names its row in the whole input, not in a slice.
    expect(
      refusal(() =>
        sliceReport({ y: [...y.slice(0, 8), 2], p, columns, by: ['country'], checks: [{ metric: 'accuracy' }] }),
      ).message,
    ).toBe('accuracy: row 8: label 2 must be 0 or 1');
  });
});

describe('groupRows', () => {
  it('lists row indices per group in a fixed order, whatever the row order', () => {
    const g = groupRows({ c: ['b', 'a', null, 'b', undefined, 'a'] }, ['c'], 6);
    expect(g.map((x) => [x.name, Array.from(x.rows)])).toEqual([
      ['c=null', [2, 4]],
      ['c=a', [1, 5]],
      ['c=b', [0, 3]],
    ]);
    const d = new Date('2024-05-01T00:00:00Z');
    expect(groupRows({ c: [d, new Date(d.getTime())] }, ['c'], 2).map((x) => x.key)).toEqual([
      { c: '2024-05-01T00:00:00.000Z' },
    ]);
  });
});

describe('fairnessGaps', () => {
  // A: predicted 1 1 0 0 → 0.5; TPR 2/3.  B: 1 0 0 0 → 0.25; TPR 1/1.  C: 1 1 1 → 1; no positives.
  const input = {
    y: [1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0],
    p: [0.9, 0.8, 0.3, 0.2, 0.7, 0.4, 0.3, 0.1, 0.6, 0.9, 0.55],
    columns: { group: ['A', 'A', 'A', 'A', 'B', 'B', 'B', 'B', 'C', 'C', 'C'] },
    by: ['group'],
  };

  it('computes the demographic parity difference with its groups', () => {
    const { demographicParity: dp } = fairnessGaps(input);
    expect(dp.difference).toBe(0.75);
    expect(dp.max!.name).toBe('group=C');
    expect(dp.min!.name).toBe('group=B');
    expect(dp.groups.map((g) => [g.key.group, g.rows, g.denominator, g.rate])).toEqual([
      ['A', 4, 4, 0.5],
      ['B', 4, 4, 0.25],
      ['C', 3, 3, 1],
    ]);
  });

  it('computes the equal opportunity difference, leaving out groups without positives', () => {
    const { equalOpportunity: eo } = fairnessGaps(input);
    expect(eo.difference).toBeCloseTo(1 / 3, 15);
    expect(eo.max!.name).toBe('group=B');
    expect(eo.min!.name).toBe('group=A');
    expect(eo.groups.map((g) => [g.key.group, g.denominator, g.rate])).toEqual([
      ['A', 3, 2 / 3],
      ['B', 1, 1],
      ['C', 0, null],
    ]);
  });

  it('uses the threshold given and reports null without any defined rate', () => {
    const r = fairnessGaps({ ...input, options: { threshold: 0.85 } });
    expect(r.demographicParity.groups.map((g) => g.rate)).toEqual([0.25, 0, 1 / 3]);
    const none = fairnessGaps({ y: [0, 0], p: [0.1, 0.9], columns: { g: ['x', 'y'] }, by: ['g'] });
    expect(none.equalOpportunity).toMatchObject({ difference: null, max: null, min: null });
    expect(none.demographicParity.difference).toBe(1);
  });
});
