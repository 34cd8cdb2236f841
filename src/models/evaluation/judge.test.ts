import { describe, expect, it } from 'vitest';
import type { PairedDelta } from './metrics/bootstrap.js';
import { judge, type Evidence } from './judge.js';
import { parseEvalSuite } from './suite.js';

const suite = (checks: string[]) =>
  parseEvalSuite(
    `suite: gate\ndata: {label: y, features: [a, b]}\nchecks:\n${checks.map((c) => `  - ${c}\n`).join('')}`,
    'gate.yaml',
  );

// The verdict from measured evidence alone: no data, model or database.
describe('judge', () => {
  it('compares each measurement with its threshold and records metric values', () => {
    const s = suite(['metric: {name: accuracy, min: 0.9}', 'size: {max: 1000}', 'latency: {p95_ms: 5, p50_ms: 1}']);
    const evidence: Evidence[] = [
      { kind: 'metric', value: 0.95 },
      { kind: 'size', bytes: 1001 },
      { kind: 'latency', p50Ms: 0.5, p95Ms: 4.2, rowsPerS: 1234.4, sample: 200 },
    ];
    const v = judge(evidence, s);
    expect(v.passed).toBe(false);
    expect(v.metrics).toEqual({ accuracy: 0.95 });
    expect(v.checks.map((c) => [c.kind, c.passed, c.message])).toEqual([
      ['metric', true, 'accuracy = 0.9500, at least 0.9'],
      ['size', false, 'model files 1001 bytes, at most 1000'],
      ['latency', true, 'single-row latency p50 0.50 ms, p95 4.20 ms over 200 rows; batch throughput 1234 rows/s'],
    ]);
    expect(v.checks[0]!.evidence).toEqual({ value: 0.95, min: 0.9, max: null });
  });

  it('a NaN metric, a missing champion and an unmeasured check fail, never skip', () => {
    const s = suite([
      'metric: {name: accuracy, min: 0.5}',
      'non_regression: {metric: accuracy, against: production, margin: 0.01}',
      'schema: {against: production}',
      'size: {max: 10}',
    ]);
    const v = judge(
      [
        { kind: 'metric', value: Number.NaN },
        { kind: 'non_regression', champion: null },
        { kind: 'schema', champion: null },
        { kind: 'error', message: 'no such file' },
      ],
      s,
    );
    expect(v.checks.map((c) => [c.passed, c.message])).toEqual([
      [false, 'accuracy = NaN, at least 0.5'],
      [
        false,
        'there is no production to compare with (a missing champion fails the gate; when_missing: pass lets a first model through)',
      ],
      [false, 'there is no production whose inputs to compare with'],
      [false, 'the check could not run: no such file'],
    ]);
    expect(v.passed).toBe(false);
    expect(v.checks[1]!.evidence).toEqual({ champion: null, when_missing: 'fail' });
  });

  it('when_missing: pass lets a first model through a non_regression check, and the verdict says so', () => {
    const s = suite([
      'non_regression: {metric: accuracy, against: production, when_missing: pass}',
      'non_regression: {metric: accuracy, against: staging}',
    ]);
    const v = judge(
      [
        { kind: 'non_regression', champion: null },
        { kind: 'non_regression', champion: null },
      ],
      s,
    );
    expect(v.checks.map((c) => [c.passed, c.evidence])).toEqual([
      [true, { champion: null, when_missing: 'pass' }],
      [false, { champion: null, when_missing: 'fail' }],
    ]);
    expect(v.checks[0]!.message).toMatch(
      /no production to compare with yet; passed because the suite says when_missing: pass/,
    );
    expect(v.passed).toBe(false);
    expect(() => suite(['non_regression: {metric: accuracy, against: production, when_missing: skip}'])).toThrow(
      /when_missing/,
    );
  });

  it('applies the non-regression rule to the bootstrap interval of candidate − champion', () => {
    const s = suite(['non_regression: {metric: accuracy, against: production, margin: 0.01, resamples: 300}']);
    const delta = (lo: number): PairedDelta => ({
      metric: 'accuracy',
      higherIsBetter: true,
      candidate: { value: 0.9, lo: 0.88, hi: 0.92, se: 0.01 },
      champion: { value: 0.91, lo: 0.89, hi: 0.93, se: 0.01 },
      delta: { value: -0.01, lo, hi: 0.005, se: 0.004 },
      method: 'percentile',
      prng: 'test',
      resamples: 300,
      confidence: 0.95,
      seed: 0,
      undefinedResamples: 0,
    });
    const ok = judge([{ kind: 'non_regression', champion: 'clf@v1', delta: delta(-0.009) }], s);
    const bad = judge([{ kind: 'non_regression', champion: 'clf@v1', delta: delta(-0.02) }], s);
    expect(ok.passed).toBe(true);
    expect(bad.passed).toBe(false);
    expect(bad.checks[0]!.message).toContain('rule: lower bound of (candidate − champion) ≥ −0.01');
  });

  it('judges schema, smoke and command evidence', () => {
    const s = suite([
      'schema: {against: production}',
      'smoke: {cases: [{features: [0, 0], expect: 0.5, tolerance: 0.001}, {features: [1, 1], expect: 1, tolerance: 0.1}]}',
      'command: {run: ./t.sh, format: junit}',
      'command: {run: ./t.sh, format: json}',
    ]);
    const v = judge(
      [
        { kind: 'schema', champion: 'clf@v1', championInputs: ['a', 'b'], candidateInputs: ['a'] },
        { kind: 'smoke', got: [0.5, 0.5] },
        { kind: 'command', exit: 0, stdout: '<testsuite failures="0">', stderr: '' },
        { kind: 'command', exit: 0, stdout: '{"passed": false}', stderr: '' },
      ],
      s,
    );
    expect(v.checks.map((c) => [c.passed, c.message])).toEqual([
      [false, 'the candidate lacks input(s) b that clf@v1 takes'],
      [false, '1 of 2 case(s) off'],
      [true, 'exit 0, 0 JUnit failure(s)'],
      [false, 'exit 0'],
    ]);
  });

  it('refuses evidence that does not line up with the suite', () => {
    const s = suite(['size: {max: 10}']);
    expect(() => judge([], s)).toThrow(/0 evidence item\(s\) for 1 check\(s\)/);
    expect(judge([{ kind: 'metric', value: 1 }], s).checks[0]!.message).toMatch(
      /could not run: evidence of a metric check/,
    );
  });
});
