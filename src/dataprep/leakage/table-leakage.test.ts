import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectsWith } from '../../test-support/assert.js';
import { useTempDirs } from '../../test-support/temp.js';
import { splitTable } from '../split/split-table.js';
import { lit, openEngine, type TableEngine } from '../tables/engine.js';
import { loadTable } from '../tables/load.js';
import { tableLeakage } from './table-leakage.js';

const tempDir = useTempDirs();
let engine: TableEngine;
beforeAll(async () => {
  engine = await openEngine({ tempDir: join(tempDir(), 'duck'), memoryLimit: '2GB' });
});
afterAll(() => engine.close());

const WORDS =
  'the quick brown fox jumps over the lazy dog while a patient heron waits by the river for the morning fish to rise near the old stone bridge that crosses the water below the hill where the village keeps its bells and the baker sells bread to every early traveller passing through on the road north';
const T1 = WORDS;
const T2 = WORDS.replace(/north$/, 'south');

async function parquet(name: string, rows: string): Promise<string> {
  const file = join(tempDir(), `${name}.parquet`);
  await engine.run(
    `COPY (SELECT id::BIGINT AS id, u, CAST(t AS TIMESTAMP) AS t, txt, x::DOUBLE AS x FROM (VALUES ${rows}) v(id, u, t, txt, x)) TO ${lit(file)} (FORMAT parquet)`,
  );
  return file;
}

describe('tableLeakage', () => {
  it('finds exact duplicates (NULLs included), key and group overlap, time-order violations and near-duplicate texts', async () => {
    const train = await parquet(
      'train',
      `(1, 'a', '2020-01-01', ${lit(T1)}, NULL), (2, 'b', '2020-01-02', 'short b', 1.5), (2, 'b', '2020-01-02', 'short b', 1.5), (3, 'c', '2020-01-10', 'short c', 2.0)`,
    );
    const val = await parquet('val', `(7, 'e', '2020-01-11', 'short f', 5.0)`);
    const test = await parquet(
      'test',
      `(1, 'a', '2020-01-01', ${lit(T1)}, NULL), (2, 'b', '2020-01-02', 'short b', 1.5), (4, 'c', '2020-01-10', ${lit(T2)}, 3.0), (5, 'd', '2020-01-11', 'short d', 4.0), (6, 'e', '2020-01-12', 'short e', NULL)`,
    );
    const report = await tableLeakage(
      engine,
      [
        { name: 'train', file: train },
        { name: 'val', file: val },
        { name: 'test', file: test },
      ],
      { key: ['u'], group: 'u', time: 't', text: 'txt' },
    );
    expect(report.ok).toBe(false);
    expect(report.checked).toEqual([
      'exact-duplicate',
      'content-duplicate',
      'key-overlap',
      'group-overlap',
      'time-order',
      'near-duplicate',
    ]);
    const [dup, key, group, time, near] = report.findings;
    expect(dup).toEqual({
      kind: 'exact-duplicate',
      severity: 'error',
      count: 2,
      sample: [
        { row: { id: 1, u: 'a', t: '2020-01-01 00:00:00', txt: T1, x: null }, splits: ['train', 'test'], rows: 2 },
        {
          row: { id: 2, u: 'b', t: '2020-01-02 00:00:00', txt: 'short b', x: 1.5 },
          splits: ['train', 'test'],
          rows: 3,
        },
      ],
      message: '2 distinct rows (5 rows in all) appear in more than one split',
      details: { rows: 5 },
    });
    expect(key).toEqual({
      kind: 'key-overlap',
      severity: 'error',
      count: 4,
      sample: [
        { value: { u: 'a' }, splits: ['train', 'test'], rows: 2 },
        { value: { u: 'b' }, splits: ['train', 'test'], rows: 3 },
        { value: { u: 'c' }, splits: ['train', 'test'], rows: 2 },
        { value: { u: 'e' }, splits: ['val', 'test'], rows: 2 },
      ],
      message: '4 values of key u appear in more than one split (9 rows)',
      details: { rows: 9 },
    });
    expect(group).toMatchObject({
      kind: 'group-overlap',
      severity: 'error',
      count: 4,
      message: '4 values of group u appear in more than one split (9 rows)',
    });
    expect(time).toMatchObject({
      kind: 'time-order',
      severity: 'error',
      count: 4,
      sample: [
        { split: 'test', time: '2020-01-01 00:00:00', earlier_max: '2020-01-11 00:00:00' },
        { split: 'test', time: '2020-01-02 00:00:00', earlier_max: '2020-01-11 00:00:00' },
        { split: 'test', time: '2020-01-10 00:00:00', earlier_max: '2020-01-11 00:00:00' },
        { split: 'test', time: '2020-01-11 00:00:00', earlier_max: '2020-01-11 00:00:00' },
      ],
      message:
        '4 rows of later splits are not strictly after every row of an earlier split by t (earliest: a test row at 2020-01-01 00:00:00, while an earlier split reaches 2020-01-11 00:00:00)',
    });
    expect(time!.details).toEqual({
      ranges: {
        train: { min: '2020-01-01 00:00:00', max: '2020-01-10 00:00:00', rows: 4, nullTimes: 0 },
        val: { min: '2020-01-11 00:00:00', max: '2020-01-11 00:00:00', rows: 1, nullTimes: 0 },
        test: { min: '2020-01-01 00:00:00', max: '2020-01-12 00:00:00', rows: 5, nullTimes: 0 },
      },
    });
    // T1 twice (identical), "short b" twice (identical), T1 against T2 (one word of 58 differs).
    expect(near).toMatchObject({
      kind: 'near-duplicate',
      severity: 'warn',
      count: 3,
      message: '3 pairs of near-duplicate texts (estimated Jaccard ≥ 0.8) sit in different splits',
    });
    expect(near!.details).toEqual({
      column: 'txt',
      threshold: 0.8,
      maxTexts: 20000,
      splits: { train: { texts: 3, compared: 3 }, val: { texts: 1, compared: 1 }, test: { texts: 5, compared: 5 } },
    });
    const pairs = (
      near!.sample as Array<{
        jaccard: number;
        left: { split: string; item: string };
        right: { split: string; item: string };
      }>
    ).map((p) => [p.left.item.slice(0, 9), p.right.item.slice(0, 9), p.jaccard === 1]);
    expect(
      pairs
        .filter((p) => p[2])
        .map((p) => p.slice(0, 2))
        .sort(),
    ).toEqual([
      ['short b', 'short b'],
      ['the quick', 'the quick'],
    ]);
    expect(pairs.filter((p) => !p[2])).toEqual([['the quick', 'the quick', false]]);
  });

  it('reports nothing for clean splits, and caps the texts it compares', async () => {
    const a = await parquet('a', `(1, 'a', '2020-01-01', ${lit(T1)}, 1), (2, 'b', '2020-01-02', 'x y', 1)`);
    const b = await parquet(
      'b',
      `(3, 'c', '2020-01-03', 'completely different words here today', 1), (4, 'd', '2020-01-04', ${lit(T2)}, 1)`,
    );
    const clean = await tableLeakage(
      engine,
      [
        { name: 'a', file: a },
        { name: 'b', file: b },
      ],
      { key: ['id'], time: 't' },
    );
    expect(clean).toEqual({
      ok: true,
      checked: ['exact-duplicate', 'content-duplicate', 'key-overlap', 'time-order'],
      findings: [],
    });
    const capped = await tableLeakage(
      engine,
      [
        { name: 'a', file: a },
        { name: 'b', relation: `read_parquet(${lit(b)})` },
      ],
      { text: 'txt', maxTexts: 1 },
    );
    expect(capped.ok).toBe(true);
    expect(capped.checked).toEqual(['exact-duplicate', 'near-duplicate']);
    // With one text per split the T1/T2 pair is found only if both are the sampled ones.
    for (const f of capped.findings)
      expect(f.details!.splits).toEqual({ a: { texts: 2, compared: 1 }, b: { texts: 2, compared: 1 } });
  });

  it('refuses unknown columns and fewer than two splits', async () => {
    const a = await parquet('a', `(1, 'a', '2020-01-01', 'x', 1)`);
    expect(
      (
        await rejectsWith(
          tableLeakage(
            engine,
            [
              { name: 'a', file: a },
              { name: 'b', file: a },
            ],
            { key: ['nope'] },
          ),
          'INVALID_INPUT',
        )
      ).message,
    ).toBe('the key column "nope" is not in the table');
    await rejectsWith(tableLeakage(engine, [{ name: 'a', file: a }], {}), 'USAGE');
  });

  it('on flights-3m split by time: routes seen in both splits are key overlap, counted exactly', async () => {
    const flights = await loadTable(
      engine,
      [join(process.cwd(), 'node_modules/vega-datasets/data/flights-3m.parquet')],
      'parquet',
      { name: 'flights' },
    );
    const { splits, report } = await splitTable(
      engine,
      flights,
      { ratios: 'train=0.9,test=0.1', time: 'date' },
      join(tempDir(), 'out'),
    );
    expect(report.leakage.ok).toBe(true);
    const files = splits.map((s) => ({ name: s.name, file: s.file }));
    const leak = await tableLeakage(engine, files, { key: ['origin', 'destination'], group: 'origin', time: 'date' });
    const [{ routes, origins }] = (await engine.all<{ routes: number; origins: number }>(
      `SELECT (SELECT count(*) FROM (SELECT origin, destination FROM read_parquet(${lit(files[0]!.file)}) INTERSECT SELECT origin, destination FROM read_parquet(${lit(files[1]!.file)}))) AS routes,
              (SELECT count(*) FROM (SELECT origin FROM read_parquet(${lit(files[0]!.file)}) INTERSECT SELECT origin FROM read_parquet(${lit(files[1]!.file)}))) AS origins`,
    )) as [{ routes: number; origins: number }];
    expect(routes).toBeGreaterThan(1000);
    expect(leak.findings.map((f) => [f.kind, f.count])).toEqual([
      ['key-overlap', routes],
      ['group-overlap', origins],
    ]);
  });
});
