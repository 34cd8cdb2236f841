// Real data at size: 3,000,000 flights (vega-datasets, Parquet) profiled, validated and split
// once each through the real CLI.
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout, FLIGHTS, initWs, lastEvent, makeTemp, ok, query, rmTemp, sqlLit, type SplitOut } from './support.js';

const ROWS = 3_000_000;

describe('flights-3m.parquet end to end (CLI)', () => {
  let cwd = '';
  let digest = '';

  beforeAll(() => {
    cwd = makeTemp('flights');
    initWs(cwd);
    mkdirSync(join(cwd, 'flights'));
    copyFileSync(FLIGHTS, join(cwd, 'flights', 'flights-3m.parquet'));
    digest = ok<{ digest: string }>(cwd, ['data', 'add', join(cwd, 'flights'), '--name', 'flights']).digest;
  }, 120_000);
  afterAll(() => rmTemp(cwd));

  it('profile: 3,000,000 rows, typed columns, exact counts where promised', async () => {
    const p = ok<{
      profile: {
        rows: number;
        columns: Array<{
          name: string;
          type: string;
          count: number;
          nulls: number;
          distinct: number;
          distinctExact: boolean;
          min: unknown;
          max: unknown;
        }>;
      };
    }>(cwd, ['data', 'profile', 'flights']);
    expect(p.profile.rows).toBe(ROWS);
    expect(p.profile.columns.map((c) => `${c.name}:${c.type}`)).toEqual([
      'date:TIMESTAMP',
      'delay:BIGINT',
      'distance:BIGINT',
      'origin:VARCHAR',
      'destination:VARCHAR',
    ]);
    const [truth] = await query<{ origins: number; dmin: number; dmax: number }>(
      `SELECT count(DISTINCT origin)::INTEGER AS origins, min(delay)::INTEGER AS dmin, max(delay)::INTEGER AS dmax FROM read_parquet(${sqlLit(FLIGHTS)})`,
    );
    const by = Object.fromEntries(p.profile.columns.map((c) => [c.name, c]));
    for (const c of p.profile.columns) expect(c.count + c.nulls, c.name).toBe(ROWS);
    expect(by.origin).toMatchObject({ distinct: truth!.origins, distinctExact: true });
    expect(by.delay).toMatchObject({ min: truth!.dmin, max: truth!.dmax });
    expect(lastEvent(cwd, 'dataset.profile')).toMatchObject({
      outcome: 'ok',
      target: { name: 'flights', version: 1, digest },
      params: { rows: ROWS, columns: 5 },
    });
  });

  it('validate: an inferred suite passes on all 3,000,000 rows', () => {
    const suite = join(cwd, 'flights-suite.yaml');
    ok(cwd, ['data', 'suite', 'infer', 'flights', '-o', suite]);
    const rep = ok<{ ok: boolean; size: number; checks: Array<{ kind: string; status: string; evaluated: number }> }>(
      cwd,
      ['data', 'validate', 'flights', '--suite', suite],
    );
    expect(rep.ok).toBe(true);
    expect(rep.size).toBe(ROWS);
    expect(rep.checks.find((c) => c.kind === 'not_null')!.evaluated).toBe(ROWS);
    for (const c of rep.checks) expect(c.status, c.kind).toBe('passed');
  });

  it('split: train + test = 3,000,000, the ratio holds, and the digests are deterministic', async () => {
    const a = ok<SplitOut>(cwd, ['data', 'split', 'flights', '--name', 'fa', '--ratios', 'train=0.8,test=0.2']);
    expect(a.splits[0]!.size + a.splits[1]!.size).toBe(ROWS);
    expect(Math.abs(a.splits[0]!.size / ROWS - 0.8)).toBeLessThan(0.002);
    expect(a.leakage.ok).toBe(true);
    const b = ok<SplitOut>(cwd, ['data', 'split', 'flights', '--name', 'fb', '--ratios', 'train=0.8,test=0.2']);
    expect(b.splits.map((s) => s.digest)).toEqual(a.splits.map((s) => s.digest));
    // The versions hold exactly those rows, and together every flight once (as a multiset).
    const files = a.splits.map((s) => join(checkout(cwd, s.ref), 'data.parquet'));
    const counts = await query<{ n: number }>(
      files.map((f) => `SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlLit(f)})`).join(' UNION ALL '),
    );
    expect(counts.map((c) => c.n)).toEqual(a.splits.map((s) => s.size));
    const [diff] = await query<{ n: number }>(
      `SELECT count(*)::INTEGER AS n FROM (
         (SELECT * FROM read_parquet(${sqlLit(FLIGHTS)}) EXCEPT ALL SELECT * FROM read_parquet([${files.map(sqlLit).join(', ')}]))
         UNION ALL
         (SELECT * FROM read_parquet([${files.map(sqlLit).join(', ')}]) EXCEPT ALL SELECT * FROM read_parquet(${sqlLit(FLIGHTS)})))`,
    );
    expect(diff!.n).toBe(0);
    expect(lastEvent(cwd, 'dataset.split')).toMatchObject({
      outcome: 'ok',
      inputs: [digest],
      outputs: b.splits.map((s) => s.digest),
      params: { allowLeakage: false, leakageOk: true },
    });
  });
});
