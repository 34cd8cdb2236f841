import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../core/package-root.js';
import { parseSuite } from '../spec-files/suite.js';
import { cohensD, ksOf, psiOf, tvdOf, type DriftColumn } from './drift.js';
import { openEngine, type TableEngine } from './engine.js';
import { loadTable, type LoadedTable } from './load.js';
import { profileTable, type TableProfile } from './profile.js';
import { runSuite } from './validate/run-suite.js';

const FLIGHTS = join(packageRoot(), 'node_modules/vega-datasets/data/flights-3m.parquet');
const NOW = new Date('2001-07-15T00:00:00Z');

describe('drift statistics', () => {
  it('PSI, KS, total variation and Cohen’s d by their textbook formulas', () => {
    expect(psiOf([50, 50], [50, 50])).toBe(0);
    expect(psiOf([50, 50], [90, 10])).toBeCloseTo(0.4 * Math.log(0.9 / 0.5) + -0.4 * Math.log(0.1 / 0.5), 12);
    // An empty bin is floored at 1e-4 instead of making PSI infinite.
    expect(psiOf([100, 0], [50, 50])).toBeCloseTo(
      (0.5 - 1) * Math.log(0.5 / 1) + (0.5 - 1e-4) * Math.log(0.5 / 1e-4),
      12,
    );
    expect(ksOf([1, 1, 1, 1], [0, 0, 2, 2])).toBe(0.5);
    expect(ksOf([3, 1], [3, 1])).toBe(0);
    expect(tvdOf([1, 1, 2], [2, 1, 1])).toBe(0.25);
    expect(cohensD({ count: 3, mean: 2, stddev: 1 }, { count: 3, mean: 4, stddev: 1 })).toBe(2);
    // Pooled by degrees of freedom: sqrt((2·1 + 4·4) / 6) = sqrt(3).
    expect(cohensD({ count: 3, mean: 0, stddev: 1 }, { count: 5, mean: 3, stddev: 2 })).toBeCloseTo(
      3 / Math.sqrt(3),
      12,
    );
    expect(cohensD({ count: 3, mean: 1, stddev: 0 }, { count: 3, mean: 1, stddev: 0 })).toBe(0);
    expect(cohensD({ count: 3, mean: 1, stddev: 0 }, { count: 3, mean: 2, stddev: 0 })).toBeNull();
    expect(cohensD({ count: 1, mean: 1, stddev: null }, { count: 3, mean: 2, stddev: 1 })).toBeNull();
  });
});

describe('drift check on real flights', () => {
  let engine: TableEngine;
  let dir: string;
  let reference: TableProfile;
  const view = (name: string): LoadedTable => ({ name, columns: [], rows: 0, format: 'parquet' });
  const drift = async (table: string, yaml = '- drift: { reference: flights@q1 }') => {
    const suite = parseSuite(`suite: drift\nchecks:\n  ${yaml}\n`, 'd.yaml');
    const report = await runSuite(engine, view(table), suite, {
      target: `flights@${table}`,
      now: NOW,
      reference: { ref: 'flights@q1', profile: reference },
    });
    return report.checks[0]!;
  };
  const columns = (c: { details?: Record<string, unknown> }) =>
    new Map(((c.details?.columns ?? []) as DriftColumn[]).map((d) => [d.column, d]));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cairn-drift-'));
    engine = await openEngine({ tempDir: join(dir, 'duck'), threads: 2 });
    await loadTable(engine, [FLIGHTS], 'parquet');
    await engine.run(`CREATE VIEW q1 AS SELECT * FROM data WHERE date < TIMESTAMP '2001-04-01'`);
    await engine.run(`CREATE VIEW q2 AS SELECT * FROM data WHERE date >= TIMESTAMP '2001-04-01'`);
    await engine.run(`CREATE VIEW shifted AS SELECT date, delay + 60 AS delay, distance, origin, destination FROM q1`);
    await engine.run(`CREATE VIEW hubs AS SELECT * FROM q1 WHERE origin IN ('ORD', 'ATL', 'DFW')`);
    await engine.run(`CREATE VIEW retyped AS SELECT date, CAST(delay AS VARCHAR) AS delay, distance, origin FROM q1`);
    const [{ n }] = (await engine.all<{ n: number }>(`SELECT count(*) AS n FROM q1`)) as [{ n: number }];
    reference = await profileTable(engine, { ...view('q1'), rows: n });
  });
  afterAll(() => {
    engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds no drift at all between a table and itself', async () => {
    const c = await drift('q1');
    expect(c).toMatchObject({ status: 'passed', evaluated: 4, failed: 0 });
    expect(c.details!.skipped).toEqual([
      { column: 'date', reason: 'time columns move by design; list them to compare' },
    ]);
    const d = columns(c);
    expect([...d.keys()]).toEqual(['delay', 'distance', 'origin', 'destination']);
    for (const col of ['delay', 'distance'])
      expect(d.get(col)).toMatchObject({ method: 'numeric', psi: 0, ks: 0, cohensD: 0, passed: true });
    for (const col of ['origin', 'destination'])
      expect(d.get(col)).toMatchObject({ method: 'categorical', psi: 0, tvd: 0, passed: true });
  });

  it('flags a shifted numeric column with its effect size, and only that column', async () => {
    const c = await drift('shifted');
    expect(c).toMatchObject({ status: 'failed', evaluated: 4, failed: 1 });
    const delay = columns(c).get('delay')!;
    expect(delay.passed).toBe(false);
    expect(delay.psi).toBeGreaterThan(1);
    expect(delay.ks).toBeGreaterThan(0.5);
    // Same spread, mean moved by 60 minutes: d = 60 / sd.
    const refDelay = reference.columns.find((x) => x.name === 'delay')!;
    expect(delay.cohensD).toBeCloseTo(60 / refDelay.stddev!, 9);
    expect(delay.current.mean).toBeCloseTo(refDelay.mean! + 60, 9);
    expect(columns(c).get('distance')).toMatchObject({ psi: 0, ks: 0, passed: true });
    expect(c.message).toMatch(
      /^1 of 4 columns drifted from flights@q1: delay \(PSI \d+\.\d{3}, KS 0\.\d{3}\); limits PSI ≤ 0\.2, KS ≤ 0\.1$/,
    );
  });

  it('computes categorical PSI and total variation over the reference categories plus the unseen', async () => {
    const c = await drift('q2', '- drift: { reference: flights@q1, columns: [origin], psi_max: 0.01 }');
    const origin = columns(c).get('origin')!;
    // Recompute independently from plain GROUP BYs.
    const ref = new Map(
      (await engine.all<{ v: string; n: number }>(`SELECT origin AS v, count(*) AS n FROM q1 GROUP BY origin`)).map(
        (r) => [r.v, r.n],
      ),
    );
    const cur = new Map(
      (await engine.all<{ v: string; n: number }>(`SELECT origin AS v, count(*) AS n FROM q2 GROUP BY origin`)).map(
        (r) => [r.v, r.n],
      ),
    );
    const cats = [...ref.keys()];
    const unseen = [...cur].filter(([v]) => !ref.has(v)).reduce((a, [, n]) => a + n, 0);
    const p = [...cats.map((v) => ref.get(v)!), 0];
    const q = [...cats.map((v) => cur.get(v) ?? 0), unseen];
    expect(origin.psi).toBeCloseTo(psiOf(p, q), 12);
    expect(origin.tvd).toBeCloseTo(tvdOf(p, q), 12);
    expect(origin.bins.at(-1)).toEqual({ bin: '(other)', reference: 0, current: unseen });
    expect(origin.current.count).toBe([...cur.values()].reduce((a, b) => a + b, 0));
    expect(c.evaluated).toBe(1);
  });

  it('sees a narrowed category mix as drift', async () => {
    const c = await drift('hubs', '- drift: { reference: flights@q1, columns: [origin, distance] }');
    const d = columns(c);
    expect(d.get('origin')!.passed).toBe(false);
    expect(d.get('origin')!.tvd).toBeGreaterThan(0.5);
    expect(c).toMatchObject({ status: 'failed', evaluated: 2 });
  });

  it('errs on columns it cannot compare when they are listed, and skips them with a reason when not', async () => {
    expect((await drift('q1', '- drift: { reference: flights@q1, columns: [nope] }')).message).toBe(
      'the table has no column "nope" (it has "date", "delay", "distance", "origin", "destination")',
    );
    await engine.run(`CREATE OR REPLACE VIEW extra AS SELECT *, 1 AS fresh FROM q1`);
    expect((await drift('extra', '- drift: { reference: flights@q1, columns: [fresh] }')).message).toBe(
      'the reference flights@q1 has no column "fresh"',
    );
    const date = await drift('q1', '- drift: { reference: flights@q1, columns: [date] }');
    expect(date.status).toBe('error');
    expect(date.message).toMatch(
      /^cannot compare "date": the reference profile has no histogram or frequency table for it \(temporal, \d+ distinct values/,
    );
    const listed = await drift('retyped', '- drift: { reference: flights@q1, columns: [delay] }');
    expect(listed.message).toBe('cannot compare "delay": it is numeric in the reference but VARCHAR now');
    const dflt = await drift('retyped');
    expect(dflt.status).toBe('passed');
    expect(dflt.details!.skipped).toEqual([
      { column: 'date', reason: 'time columns move by design; list them to compare' },
      { column: 'delay', reason: 'it is numeric in the reference but VARCHAR now' },
    ]);
    const suite = parseSuite(
      `checks:\n  - drift: { reference: flights@q1 }\n  - drift: { reference: flights@v9, name: other }\n`,
      'd.yaml',
    );
    const two = await runSuite(engine, view('q1'), suite, {
      target: 't',
      now: NOW,
      reference: { ref: 'flights@q1', profile: reference },
    });
    expect(two.checks.map((x) => x.status)).toEqual(['passed', 'error']);
    expect(two.checks[1]!.message).toBe(
      'the reference profile given is "flights@q1", not "flights@v9"; run drift checks against one reference at a time',
    );
  });
});
