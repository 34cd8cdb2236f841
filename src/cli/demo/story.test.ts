import { describe, expect, it } from 'vitest';
import { added, blockedLines, changes, count, interval, majorityBaseline, modelTable, paramsLine } from './story.js';

describe('demo story lines', () => {
  it('summarises an added version in one line: counts, size, what was new, the digest', () => {
    const line = added({
      ref: 'emails@v2',
      digest: `sha256:${'ab12cd34'.repeat(8)}`,
      files: 11595,
      bytes: 55988794,
      newBytes: 176706,
    });
    expect(line).toBe('emails@v2: 11,595 files, 53.4 MiB, 173 KiB of it new (version sha256:ab12cd34)');
    // Everything new: no "of it new" clause.
    expect(added({ ref: 'f@v1', digest: 'sha256:00', files: 1, bytes: 10, newBytes: 10 })).toBe(
      'f@v1: 1 file, 10 B (version sha256:00)',
    );
  });

  it('counts changes instead of listing paths', () => {
    expect(changes({ added: 1, removed: 1000, modified: 2 })).toBe('1 added, 1,000 removed, 2 modified');
    expect(count(3_000_000)).toBe('3,000,000');
  });

  it('the majority class is whichever label is more frequent, scoring its share', () => {
    const labels = { positive: 'late', negative: 'on time' };
    expect(majorityBaseline(0.44764, labels)).toEqual({ label: 'on time', accuracy: 1 - 0.44764 });
    expect(majorityBaseline(0.7, labels)).toEqual({ label: 'late', accuracy: 0.7 });
  });

  it('names only the failed checks of a blocked model, with their own messages', () => {
    const lines = blockedLines([
      { name: 'metric(roc_auc)', passed: false, message: 'roc_auc = 0.5070, at least 0.55' },
      { name: 'latency', passed: true, message: 'p95 0.04 ms' },
      {
        name: 'non_regression(roc_auc vs production)',
        passed: false,
        message: 'Δ = -0.0569 [-0.0602, -0.0533] (95 % CI)',
      },
    ]);
    expect(lines).toEqual([
      'metric(roc_auc): roc_auc = 0.5070, at least 0.55',
      'non_regression(roc_auc vs production): Δ = -0.0569 [-0.0602, -0.0533] (95 % CI)',
    ]);
  });

  it('says which params differ and which are the same', () => {
    expect(
      paramsLine([
        { name: 'epochs', values: [40, 40], differs: false },
        { name: 'features', values: ['distance,hour', 'distance'], differs: true },
      ]),
    ).toBe('one param differs: features (distance,hour | distance); the same: epochs=40');
    expect(
      paramsLine([
        { name: 'a', values: [1, 2], differs: true },
        { name: 'b', values: ['x', 'y'], differs: true },
      ]),
    ).toMatch(/^2 params differ: a \(1 \| 2\), b \(x \| y\)$/);
  });

  it('prints a table with the majority row and signed intervals', () => {
    const t = modelTable([
      { label: 'majority class', features: 'always "on time"', accuracy: 0.55236, rocAuc: 0.5, verdict: '' },
      { label: 'm@v3', features: 'distance,hour,recent', accuracy: 0.58682, rocAuc: 0.5999, verdict: 'passed' },
    ]);
    expect(t).toHaveLength(3);
    expect(t[1]).toMatch(/^majority class\s+always "on time"\s+0\.5524\s+0\.5000$/);
    expect(t[2]).toMatch(/0\.5868\s+0\.5999\s+passed$/);
    expect(interval(-0.06, 0.01)).toBe('[−0.0600, +0.0100]');
  });
});
