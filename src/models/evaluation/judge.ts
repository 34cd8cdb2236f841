import { CairnError } from '../../core/errors.js';
import { nonRegression, type PairedDelta } from './metrics/bootstrap.js';
import type { FairnessGap, SliceReport } from './metrics/slices.js';
import type { EvalCheck, EvalSuite } from './suite.js';

/**
 * What the evaluation shell measured for one check of a suite, before any verdict: the numbers
 * (metric value, bootstrap delta, latencies, bytes, predictions, exit status) a judge compares
 * with the suite's thresholds. `error`: the check could not be measured (the message says why).
 */
export type Evidence =
  | { kind: 'error'; message: string }
  | { kind: 'metric'; value: number }
  | { kind: 'non_regression'; champion: null }
  | { kind: 'non_regression'; champion: string; delta: PairedDelta }
  | { kind: 'slice'; report: SliceReport }
  | { kind: 'fairness'; gap: FairnessGap }
  | { kind: 'latency'; p50Ms: number; p95Ms: number; rowsPerS: number; sample: number }
  | { kind: 'size'; bytes: number }
  | { kind: 'schema'; champion: null }
  | { kind: 'schema'; champion: string; championInputs: string[] | null; candidateInputs: string[] | null }
  | { kind: 'smoke'; got: number[] }
  | { kind: 'command'; exit: number | null; stdout: string; stderr: string };

export interface CheckOutcome {
  name: string;
  kind: EvalCheck['kind'];
  line: number;
  passed: boolean;
  message: string;
  evidence: Record<string, unknown>;
}

export interface Verdict {
  passed: boolean;
  checks: CheckOutcome[];
  /** The value of every metric check that could be computed, by metric name. */
  metrics: Record<string, number>;
}

type Judged = { passed: boolean; message: string; evidence?: Record<string, unknown> };

/**
 * The gate's verdict: a pure function of the measured evidence (one entry per check of the
 * suite, in order) and the suite's thresholds. Every check is judged; a missing champion or an
 * unmeasurable check fails, never skips.
 */
export function judge(evidence: readonly Evidence[], suite: EvalSuite): Verdict {
  if (evidence.length !== suite.checks.length)
    throw new CairnError('INTERNAL', `${evidence.length} evidence item(s) for ${suite.checks.length} check(s)`);
  const metrics: Record<string, number> = {};
  const checks = suite.checks.map((c, i): CheckOutcome => {
    const e = evidence[i]!;
    let j: Judged;
    try {
      if (e.kind === 'metric' && c.kind === 'metric') metrics[c.metric] = e.value;
      j = e.kind === 'error' ? { passed: false, message: `the check could not run: ${e.message}` } : judgeOne(c, e);
    } catch (err) {
      j = { passed: false, message: `the check could not run: ${(err as Error).message}` };
    }
    return {
      name: c.name,
      kind: c.kind,
      line: c.line,
      passed: j.passed,
      message: j.message,
      evidence: j.evidence ?? {},
    };
  });
  return { passed: checks.every((c) => c.passed), checks, metrics };
}

type Measured = Exclude<Evidence, { kind: 'error' }>;

function judgeOne(c: EvalCheck, e: Measured): Judged {
  if (c.kind !== e.kind)
    throw new CairnError('INTERNAL', `evidence of a ${e.kind} check for ${c.kind} check ${c.name}`);
  switch (c.kind) {
    case 'metric':
      return judgeMetric(c, e as Extract<Measured, { kind: 'metric' }>);
    case 'non_regression':
      return judgeNonRegression(c, e as Extract<Measured, { kind: 'non_regression' }>);
    case 'slice': {
      const rep = (e as Extract<Measured, { kind: 'slice' }>).report;
      return {
        passed: rep.pass,
        message: rep.pass ? `${rep.slices.length} slice(s) within bounds` : rep.failures.join('; '),
        evidence: {
          slices: rep.slices.map((s) => ({
            name: s.name,
            rows: s.rows,
            missing: s.missing,
            value: s.checks[0]?.value ?? null,
            pass: s.pass,
          })),
        },
      };
    }
    case 'fairness': {
      const { gap } = e as Extract<Measured, { kind: 'fairness' }>;
      const value = gap.difference;
      return {
        passed: value !== null && value <= c.max,
        message: `${c.measure} gap by ${c.by} = ${value === null ? 'n/a' : value.toFixed(4)}, at most ${c.max}`,
        evidence: { gap },
      };
    }
    case 'latency':
      return judgeLatency(c, e as Extract<Measured, { kind: 'latency' }>);
    case 'size': {
      const { bytes } = e as Extract<Measured, { kind: 'size' }>;
      return {
        passed: bytes <= c.max,
        message: `model files ${bytes} bytes, at most ${c.max}`,
        evidence: { bytes, max: c.max },
      };
    }
    case 'schema':
      return judgeSchema(c, e as Extract<Measured, { kind: 'schema' }>);
    case 'smoke':
      return judgeSmoke(c, e as Extract<Measured, { kind: 'smoke' }>);
    case 'command':
      return judgeCommand(c, e as Extract<Measured, { kind: 'command' }>);
  }
}

function judgeMetric(c: Extract<EvalCheck, { kind: 'metric' }>, { value: v }: { value: number }): Judged {
  const ok = Number.isFinite(v) && (c.min === undefined || v >= c.min) && (c.max === undefined || v <= c.max);
  return {
    passed: ok,
    message: `${c.metric} = ${v.toFixed(4)}${c.min !== undefined ? `, at least ${c.min}` : ''}${c.max !== undefined ? `, at most ${c.max}` : ''}`,
    evidence: { value: v, min: c.min ?? null, max: c.max ?? null },
  };
}

function judgeNonRegression(
  c: Extract<EvalCheck, { kind: 'non_regression' }>,
  e: Extract<Measured, { kind: 'non_regression' }>,
): Judged {
  if (e.champion === null)
    return c.whenMissing === 'pass'
      ? {
          passed: true,
          message: `there is no ${c.against} to compare with yet; passed because the suite says when_missing: pass`,
          evidence: { champion: null, when_missing: 'pass' },
        }
      : {
          passed: false,
          message: `there is no ${c.against} to compare with (a missing champion fails the gate; when_missing: pass lets a first model through)`,
          evidence: { champion: null, when_missing: 'fail' },
        };
  const d = e.delta;
  const g = nonRegression({ delta: d.delta, margin: c.margin, higherIsBetter: d.higherIsBetter });
  return {
    passed: g.pass,
    message: `${c.metric}: candidate − ${e.champion} = ${d.delta.value.toFixed(4)} [${d.delta.lo.toFixed(4)}, ${d.delta.hi.toFixed(4)}] (${Math.round(c.confidence * 100)} % CI, ${c.resamples} paired resamples); rule: ${g.rule}`,
    evidence: {
      champion: e.champion,
      delta: d.delta,
      candidate: d.candidate,
      champion_value: d.champion,
      margin: c.margin,
      rule: g.rule,
    },
  };
}

function judgeLatency(c: Extract<EvalCheck, { kind: 'latency' }>, e: Extract<Measured, { kind: 'latency' }>): Judged {
  const { p50Ms: p50, p95Ms: p95, rowsPerS: rps } = e;
  const ok =
    (c.p50Ms === undefined || p50 <= c.p50Ms) &&
    (c.p95Ms === undefined || p95 <= c.p95Ms) &&
    (c.minRowsPerS === undefined || rps >= c.minRowsPerS);
  return {
    passed: ok,
    message: `single-row latency p50 ${p50.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms over ${e.sample} rows; batch throughput ${Math.round(rps)} rows/s`,
    evidence: {
      p50Ms: p50,
      p95Ms: p95,
      rowsPerS: rps,
      budget: { p50Ms: c.p50Ms ?? null, p95Ms: c.p95Ms ?? null, minRowsPerS: c.minRowsPerS ?? null },
    },
  };
}

function judgeSchema(c: Extract<EvalCheck, { kind: 'schema' }>, e: Extract<Measured, { kind: 'schema' }>): Judged {
  if (e.champion === null) return { passed: false, message: `there is no ${c.against} whose inputs to compare with` };
  const want = e.championInputs;
  const have = e.candidateInputs;
  const missing = want && have ? want.filter((n) => !have.includes(n)) : null;
  return {
    passed: missing !== null && missing.length === 0,
    message:
      missing === null
        ? 'a signature is missing (register both with --signature)'
        : missing.length
          ? `the candidate lacks input(s) ${missing.join(', ')} that ${e.champion} takes`
          : `the candidate accepts every input of ${e.champion}`,
    evidence: { champion: e.champion, championInputs: want, candidateInputs: have, missing },
  };
}

function judgeSmoke(c: Extract<EvalCheck, { kind: 'smoke' }>, e: Extract<Measured, { kind: 'smoke' }>): Judged {
  const bad: unknown[] = [];
  c.cases.forEach((sc, i) => {
    const got = e.got[i]!;
    if (!(Math.abs(got - sc.expect) <= sc.tolerance))
      bad.push({ features: sc.features, expect: sc.expect, got, tolerance: sc.tolerance });
  });
  return {
    passed: bad.length === 0,
    message: bad.length ? `${bad.length} of ${c.cases.length} case(s) off` : `${c.cases.length} case(s) as expected`,
    evidence: { failures: bad },
  };
}

function judgeCommand(c: Extract<EvalCheck, { kind: 'command' }>, e: Extract<Measured, { kind: 'command' }>): Judged {
  const failures = c.format === 'junit' ? (/failures="(\d+)"/.exec(e.stdout)?.[1] ?? null) : null;
  const json = c.format === 'json' ? safeJson(e.stdout) : null;
  const ok =
    e.exit === 0 && (c.format === 'junit' ? failures === '0' : (json as { passed?: boolean } | null)?.passed !== false);
  return {
    passed: ok,
    message: `exit ${e.exit}${failures !== null ? `, ${failures} JUnit failure(s)` : ''}`,
    evidence: { exit: e.exit, stdout: e.stdout.slice(-2000), stderr: e.stderr.slice(-2000) },
  };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
