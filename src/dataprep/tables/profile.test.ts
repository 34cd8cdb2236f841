import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../core/package-root.js';
import { useTempDirs } from '../../test-support/temp.js';
import { openEngine, type TableEngine } from './engine.js';
import { loadTable, type LoadedTable } from './load.js';
import { histogramCounts, histogramSql, profileTable, type ColumnProfile } from './profile.js';

const FLIGHTS = join(packageRoot(), 'node_modules/vega-datasets/data/flights-3m.parquet');
const WEATHER = join(packageRoot(), 'node_modules/vega-datasets/data/seattle-weather.csv');
const PENGUINS = join(packageRoot(), 'node_modules/vega-datasets/data/penguins.json');

describe('profileTable', () => {
  const tmp = useTempDirs();
  let engine: TableEngine | null = null;
  afterEach(() => {
    engine?.close();
    engine = null;
  });
  const open = async () => (engine = await openEngine({ tempDir: join(tmp(), 'duck'), threads: 2 }));
  const col = (cols: ColumnProfile[], name: string) => cols.find((c) => c.name === name)!;

  it('profiles every column of a small CSV exactly', async () => {
    const dir = tmp();
    const file = join(dir, 'small.csv');
    writeFileSync(
      file,
      'id,city,temp,flag,day,note\n1,Oslo,1.5,true,2024-01-01,\n2,Oslo,2.5,false,2024-01-02,hi\n3,Rome,,true,2024-01-03,x\n4,Paris,10,true,,y\n',
    );
    const e = await open();
    const p = await profileTable(e, await loadTable(e, [file], 'csv'));
    expect(p.format).toBe('cairn.profile/v1');
    expect(p.rows).toBe(4);
    expect(col(p.columns, 'id')).toEqual({
      name: 'id',
      type: 'BIGINT',
      kind: 'numeric',
      count: 4,
      nulls: 0,
      distinct: 4,
      distinctExact: true,
      min: 1,
      max: 4,
      mean: 2.5,
      stddev: Math.sqrt(5 / 3),
      quantiles: { p01: 1, p05: 1, p25: 1, p50: 2, p75: 3, p95: 4, p99: 4 },
      top: [1, 2, 3, 4].map((value) => ({ value, count: 1 })),
      // Inner edges are the 5 % quantiles strictly between min and max: 2 and 3.
      histogram: { edges: [1, 2, 3, 4], counts: [2, 1, 1] },
      frequencies: ['1', '2', '3', '4'].map((value) => ({ value, count: 1 })),
    });
    expect(col(p.columns, 'city')).toEqual({
      name: 'city',
      type: 'VARCHAR',
      kind: 'text',
      count: 4,
      nulls: 0,
      distinct: 3,
      distinctExact: true,
      min: 'Oslo',
      max: 'Rome',
      top: [
        { value: 'Oslo', count: 2 },
        { value: 'Paris', count: 1 },
        { value: 'Rome', count: 1 },
      ],
      frequencies: [
        { value: 'Oslo', count: 2 },
        { value: 'Paris', count: 1 },
        { value: 'Rome', count: 1 },
      ],
    });
    const temp = col(p.columns, 'temp');
    expect(temp).toMatchObject({ type: 'DOUBLE', count: 3, nulls: 1, distinct: 3, min: 1.5, max: 10, mean: 14 / 3 });
    // Equally frequent numbers are listed by value, not by their text ("10.0" < "2.5").
    expect(temp.top.map((t) => t.value)).toEqual([1.5, 2.5, 10]);
    expect(temp.histogram).toEqual({ edges: [1.5, 2.5, 10], counts: [2, 1] });
    expect(temp.frequencies).toEqual([
      { value: '1.5', count: 1 },
      { value: '2.5', count: 1 },
      { value: '10.0', count: 1 },
    ]);
    expect(col(p.columns, 'flag')).toMatchObject({
      kind: 'boolean',
      distinct: 2,
      min: false,
      max: true,
      top: [
        { value: true, count: 3 },
        { value: false, count: 1 },
      ],
    });
    expect(col(p.columns, 'day')).toMatchObject({
      type: 'DATE',
      kind: 'temporal',
      count: 3,
      nulls: 1,
      min: '2024-01-01',
      max: '2024-01-03',
      quantiles: {
        p01: '2024-01-01',
        p05: '2024-01-01',
        p25: '2024-01-01',
        p50: '2024-01-02',
        p75: '2024-01-03',
        p95: '2024-01-03',
        p99: '2024-01-03',
      },
    });
    expect(col(p.columns, 'day').histogram).toBeUndefined();
    expect(col(p.columns, 'note')).toMatchObject({ count: 3, nulls: 1, distinct: 3 });
  });

  it('profiles 3,000,000 real flights in three passes, with exact counts where it says so', async () => {
    const e = await open();
    const table = await loadTable(e, [FLIGHTS], 'parquet');
    const queries: string[] = [];
    const spy: TableEngine = { ...e, all: (sql, params) => (queries.push(sql), e.all(sql, params)) };
    const p = await profileTable(spy, table);
    // DESCRIBE, the main aggregate, the grouping pass, the histogram pass.
    expect(queries).toHaveLength(4);
    expect(p.rows).toBe(3_000_000);
    expect(p.columns.map((c) => [c.name, c.type, c.kind])).toEqual([
      ['date', 'TIMESTAMP', 'temporal'],
      ['delay', 'BIGINT', 'numeric'],
      ['distance', 'BIGINT', 'numeric'],
      ['origin', 'VARCHAR', 'text'],
      ['destination', 'VARCHAR', 'text'],
    ]);
    const [truth] = await e.all<Record<string, number>>(
      `SELECT count(DISTINCT date) AS date, count(DISTINCT delay) AS delay, count(DISTINCT origin) AS origin, min(delay) AS lo, max(delay) AS hi, avg(delay) AS mean, stddev_samp(delay) AS sd FROM data`,
    );
    const delay = col(p.columns, 'delay');
    expect(delay).toMatchObject({
      count: 3_000_000,
      nulls: 0,
      distinct: truth!.delay,
      distinctExact: true,
      min: truth!.lo,
      max: truth!.hi,
    });
    expect(delay.mean).toBeCloseTo(truth!.mean!, 9);
    expect(delay.stddev).toBeCloseTo(truth!.sd!, 9);
    // 213,834 distinct minutes: too many for a frequency table, but still counted exactly.
    const date = col(p.columns, 'date');
    expect(date).toMatchObject({
      distinct: truth!.date,
      distinctExact: true,
      min: '2001-01-01 00:01:00',
      max: '2001-07-01 00:00:00',
    });
    expect(date.frequencies).toBeUndefined();
    const busiest = await e.all<{ v: string; n: number }>(
      `SELECT CAST(date AS VARCHAR) AS v, count(*) AS n FROM data GROUP BY date ORDER BY n DESC, v LIMIT 3`,
    );
    expect(date.top.slice(0, 3)).toEqual(busiest.map((b) => ({ value: b.v, count: b.n })));
    const origin = col(p.columns, 'origin');
    expect(origin.distinct).toBe(truth!.origin);
    expect(origin.frequencies).toHaveLength(truth!.origin!);
    expect(origin.frequencies!.reduce((a, f) => a + f.count, 0)).toBe(3_000_000);
    const ord = await e.all<{ n: number }>(`SELECT count(*) AS n FROM data WHERE origin = 'ORD'`);
    expect(origin.frequencies!.find((f) => f.value === 'ORD')!.count).toBe(ord[0]!.n);
    // The histogram's counts are exact on its (sketched) edges: recount them independently.
    const h = delay.histogram!;
    expect(h.edges[0]).toBe(truth!.lo);
    expect(h.edges.at(-1)).toBe(truth!.hi);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(3_000_000);
    const inner = h.edges.slice(1, -1);
    const recount = await e.all<{ b: number; n: number }>(
      `SELECT ${inner.length} - len(list_filter([${inner.join(', ')}], lambda e: delay <= e)) AS b, count(*) AS n FROM data GROUP BY b ORDER BY b`,
    );
    expect(h.counts).toEqual(recount.map((r) => r.n));
    const q = delay.quantiles!;
    expect(
      [q.p01, q.p05, q.p25, q.p50, q.p75, q.p95, q.p99].every(
        (v, i, a) => i === 0 || (v as number) >= (a[i - 1] as number),
      ),
    ).toBe(true);
  });

  it('keeps frequency tables to 1,000 values and leaves top values out of near-unique columns', async () => {
    const e = await open();
    await e.run(
      `CREATE TABLE wide AS SELECT i AS id, i % 1000 AS k1000, i % 1001 AS k1001, CAST(i AS DOUBLE) / 7 AS x, CASE WHEN i % 4 = 0 THEN NULL ELSE 'v' || (i % 3) END AS s FROM range(20000) r(i)`,
    );
    const table: LoadedTable = { name: 'wide', columns: [], rows: 20000, format: 'parquet' };
    const p = await profileTable(e, table);
    expect(col(p.columns, 'k1000').frequencies).toHaveLength(1000);
    expect(col(p.columns, 'k1001')).toMatchObject({ distinct: 1001, distinctExact: true });
    expect(col(p.columns, 'k1001').frequencies).toBeUndefined();
    expect(col(p.columns, 'k1001').top).toHaveLength(10);
    // An integer key is grouped so that `distinct == count` is exact, but lists no top values.
    expect(col(p.columns, 'id')).toMatchObject({ distinct: 20000, distinctExact: true, top: [] });
    // A continuous near-unique column keeps the estimate.
    expect(col(p.columns, 'x').distinctExact).toBe(false);
    expect(col(p.columns, 'x').top).toEqual([]);
    expect(col(p.columns, 's')).toMatchObject({
      count: 15000,
      nulls: 5000,
      distinct: 3,
      top: [
        { value: 'v0', count: 5000 },
        { value: 'v1', count: 5000 },
        { value: 'v2', count: 5000 },
      ],
    });
  });

  it('handles an empty table, an all-NULL column and a constant column', async () => {
    const e = await open();
    await e.run(`CREATE TABLE z AS SELECT 1 AS one, CAST(NULL AS VARCHAR) AS nothing, [1, 2] AS list FROM range(3)`);
    const p = await profileTable(e, { name: 'z', columns: [], rows: 3, format: 'parquet' });
    expect(col(p.columns, 'one')).toMatchObject({
      count: 3,
      distinct: 1,
      min: 1,
      max: 1,
      histogram: { edges: [1, 1], counts: [3] },
      stddev: 0,
    });
    expect(col(p.columns, 'nothing')).toEqual({
      name: 'nothing',
      type: 'VARCHAR',
      kind: 'text',
      count: 0,
      nulls: 3,
      distinct: 0,
      distinctExact: true,
      top: [],
    });
    expect(col(p.columns, 'list')).toEqual({
      name: 'list',
      type: 'INTEGER[]',
      kind: 'other',
      count: 3,
      nulls: 0,
      distinct: 0,
      distinctExact: false,
      top: [],
    });
    await e.run(
      `CREATE TABLE f AS SELECT * FROM (VALUES (1.0::DOUBLE), ('NaN'::DOUBLE), ('Infinity'::DOUBLE), (3.0), (NULL)) v(x)`,
    );
    const f = col((await profileTable(e, { name: 'f', columns: [], rows: 5, format: 'parquet' })).columns, 'x');
    // NaN and ±Infinity are counted apart; the statistics describe the finite values. In the
    // histogram NaN is in no bin and Infinity in the last, as it will be when drift bins new data.
    expect(f).toMatchObject({
      count: 4,
      nulls: 1,
      nonFinite: 2,
      min: 1,
      max: 3,
      mean: 2,
      histogram: { edges: [1, 3], counts: [3] },
    });
    expect(f.stddev).toBeCloseTo(Math.SQRT2, 12);
    expect(f.quantiles!.p50).toBe(1);
    await e.run(`CREATE TABLE empty AS SELECT 1 AS a WHERE false`);
    const none = await profileTable(e, { name: 'empty', columns: [], rows: 0, format: 'parquet' });
    expect(none).toEqual({
      format: 'cairn.profile/v1',
      rows: 0,
      columns: [
        { name: 'a', type: 'INTEGER', kind: 'numeric', count: 0, nulls: 0, distinct: 0, distinctExact: true, top: [] },
      ],
    });
  });

  it('profiles a real CSV typed from the whole file (Seattle weather)', async () => {
    const e = await open();
    const p = await profileTable(e, await loadTable(e, [WEATHER], 'csv'));
    expect(p.rows).toBe(1461);
    expect(p.columns.map((c) => `${c.name}:${c.type}`)).toEqual([
      'date:DATE',
      'precipitation:DOUBLE',
      'temp_max:DOUBLE',
      'temp_min:DOUBLE',
      'wind:DOUBLE',
      'weather:VARCHAR',
    ]);
    const weather = col(p.columns, 'weather');
    expect(weather.frequencies!.map((f) => f.value).sort()).toEqual(['drizzle', 'fog', 'rain', 'snow', 'sun']);
    expect(weather.frequencies!.reduce((a, f) => a + f.count, 0)).toBe(1461);
    expect(col(p.columns, 'date')).toMatchObject({
      min: '2012-01-01',
      max: '2015-12-31',
      distinct: 1461,
      distinctExact: true,
    });
  });

  it('profiles real JSON Lines with NULLs (the penguins, rewritten from their JSON array)', async () => {
    const penguins = JSON.parse(readFileSync(PENGUINS, 'utf8')) as Array<Record<string, unknown>>;
    const dir = tmp();
    writeFileSync(join(dir, 'penguins.jsonl'), penguins.map((p) => JSON.stringify(p)).join('\n') + '\n');
    const e = await open();
    const p = await profileTable(e, await loadTable(e, [join(dir, 'penguins.jsonl')], 'jsonl'));
    expect(p.rows).toBe(penguins.length);
    for (const name of Object.keys(penguins[0]!)) {
      const values = penguins.map((x) => x[name]).filter((v) => v !== null && v !== undefined);
      const c = col(p.columns, name);
      expect([c.name, c.count, c.nulls, c.distinct, c.distinctExact]).toEqual([
        name,
        values.length,
        penguins.length - values.length,
        new Set(values).size,
        true,
      ]);
      if (c.kind === 'numeric') {
        const nums = values as number[];
        expect([c.min, c.max]).toEqual([Math.min(...nums), Math.max(...nums)]);
        expect(c.mean).toBeCloseTo(nums.reduce((a, b) => a + b, 0) / nums.length, 9);
        expect(c.histogram!.counts.reduce((a, b) => a + b, 0)).toBe(nums.length);
      }
    }
    const species = col(p.columns, 'Species');
    const adelie = penguins.filter((x) => x.Species === 'Adelie').length;
    expect(species.top[0]).toEqual({ value: 'Adelie', count: adelie });
  });

  it('bins values outside the edges into the outer bins and ignores NaN', async () => {
    const e = await open();
    const edges = [0, 1, 2, 3];
    const [r] = await e.all<{ h: unknown }>(
      `SELECT ${histogramSql('x', 'DOUBLE', edges)} AS h FROM (VALUES (-5.0), (0.0), (1.0), (1.5), (2.0), (2.5), (9.0), ('NaN'::DOUBLE), (NULL)) v(x)`,
    );
    expect(histogramCounts(r!.h, edges)).toEqual([2 + 1, 2, 2]);
  });
});
