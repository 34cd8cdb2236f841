import { sql } from 'kysely';
import { CairnError } from '../../core/errors.js';
import { METRIC_BLOCK_MAX_LEVEL, METRIC_BLOCK_MIN_LEVEL } from '../../core/metric-blocks.js';
import type { ReadDb } from '../../meta/read-db.js';
import { stepLevel } from './blocks.js';

/** A metric of a run, summarized (count, range, last point, first step and time). */
export interface MetricSummary {
  name: string;
  points: number;
  last: number;
  lastStep: number | null;
  lastTime: string;
  min: number;
  max: number;
  firstStep: number | null;
  firstTime: string;
}

/** PostgreSQL returns bigint as text; SQLite as a number. */
const num = (v: unknown) => Number(v);
const numOrNull = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** Every metric of a run, summarized: one row each, whatever the number of points (kept on ingest). */
export async function metricSummaries(db: ReadDb, runId: string): Promise<MetricSummary[]> {
  const rows = await db
    .selectFrom('run_metric_summaries')
    .selectAll()
    .where('run_id', '=', runId)
    .orderBy('name')
    .execute();
  return rows.map((r) => ({
    name: r.name,
    points: num(r.points),
    last: num(r.last_value),
    lastStep: numOrNull(r.last_step),
    lastTime: r.last_time,
    min: num(r.min_value),
    max: num(r.max_value),
    firstStep: numOrNull(r.first_step),
    firstTime: r.first_time,
  }));
}

/** One bucket of a downsampled curve: its range of steps (or times) and the values in it. */
export interface SeriesBucket {
  /** Lowest and highest step in the bucket (null for a metric logged without steps). */
  steps: [number, number] | null;
  /** Earliest and latest time in the bucket, for a metric without steps (null for one with steps: its curve is read from the index alone). */
  times: [string, string] | null;
  count: number;
  min: number;
  max: number;
  mean: number;
}

export interface MetricSeries {
  name: string;
  /** Points of the metric in all. */
  points: number;
  /** `step`: buckets of aligned ranges of 2^k steps (points without a step are left out); `time`: equal numbers of points in time order. */
  by: 'step' | 'time';
  buckets: SeriesBucket[];
}

/**
 * A metric's curve in at most `buckets` buckets, computed by the database (min, max and mean
 * per bucket keep spikes visible, unlike plain subsampling), so a run with millions of points
 * draws from a few hundred rows. A metric with steps is bucketed by aligned ranges of 2^k steps
 * (at most `buckets`, at least half as many; each one a block kept on ingest, see bucketsBySteps);
 * one without, by equal numbers of points in
 * time order. `x: 'time'` buckets a stepped metric in time order too, for charts whose x axis is
 * wall-clock time (runs that restarted from a checkpoint repeat steps, not times).
 */
export async function metricSeries(
  db: ReadDb,
  runId: string,
  name: string,
  buckets = 500,
  x: 'step' | 'time' = 'step',
): Promise<MetricSeries> {
  checkBuckets(buckets);
  const s = await db
    .selectFrom('run_metric_summaries')
    .selectAll()
    .where('run_id', '=', runId)
    .where('name', '=', name)
    .executeTakeFirst();
  if (!s)
    throw new CairnError('NOT_FOUND', `run ${runId} has no metric ${JSON.stringify(name)}`, {
      hint: 'list its metrics with cairn run metrics <id>',
    });
  return seriesOf(db, runId, s, buckets, x);
}

type SummaryRow = {
  name: string;
  points: unknown;
  first_step: unknown;
  last_step: unknown;
  first_time: string;
  last_time: string;
};

async function seriesOf(
  db: ReadDb,
  runId: string,
  s: SummaryRow,
  buckets: number,
  x: 'step' | 'time' = 'step',
): Promise<MetricSeries> {
  const name = s.name;
  const points = num(s.points);
  const firstStep = numOrNull(s.first_step);
  const lastStep = numOrNull(s.last_step);
  const metric = { db, runId, name };
  if (x === 'step' && firstStep !== null && lastStep !== null) {
    return { name, points, by: 'step', buckets: await bucketsBySteps(metric, firstStep, lastStep, buckets) };
  }
  const rows = await bucketsByTime(metric, points, buckets);
  return { name, points, by: 'time', buckets: rows.map((r) => toBucket(r, false)) };
}

/**
 * Downsampled curves kept between requests (the web UI's compare asks for the same 100 again as
 * a person changes the smoothing or comes back). A curve is kept under its summary's count, ends
 * and times: ingestion updates the summary in the transaction that adds points, so a curve that
 * grew has another key and is computed again. Bounded by buckets held, oldest use dropped first.
 */
export class SeriesCache {
  private readonly held = new Map<string, MetricSeries>();
  private size = 0;
  constructor(private readonly maxBuckets = 200_000) {}

  get(key: string): MetricSeries | undefined {
    const hit = this.held.get(key);
    if (hit) {
      this.held.delete(key);
      this.held.set(key, hit);
    }
    return hit;
  }

  set(key: string, series: MetricSeries): void {
    if (series.buckets.length > this.maxBuckets || this.held.has(key)) return;
    this.held.set(key, series);
    this.size += series.buckets.length;
    for (const [k, v] of this.held) {
      if (this.size <= this.maxBuckets) break;
      this.held.delete(k);
      this.size -= v.buckets.length;
    }
  }
}

/**
 * One metric's curve for each of many runs: their summaries in one query, then each curve from
 * the cache or about `buckets` rows of run_metric_blocks (grouping the points instead made SQLite
 * sort each run's points: 35 ms per 100,000). A run without the metric gets `points: 0`.
 */
export async function metricCurves(
  db: ReadDb,
  runIds: readonly string[],
  name: string,
  buckets: number,
  cache?: SeriesCache,
  x: 'step' | 'time' = 'step',
): Promise<Array<{ id: string } & MetricSeries>> {
  checkBuckets(buckets);
  const sums = new Map<string, SummaryRow>();
  for (let i = 0; i < runIds.length; i += 1000)
    for (const r of await db
      .selectFrom('run_metric_summaries')
      .select(['run_id', 'name', 'points', 'first_step', 'last_step', 'first_time', 'last_time'])
      .where('name', '=', name)
      .where('run_id', 'in', runIds.slice(i, i + 1000))
      .execute())
      sums.set(r.run_id, r);
  const out: Array<{ id: string } & MetricSeries> = [];
  for (const id of runIds) {
    const s = sums.get(id);
    if (!s) {
      out.push({ id, name, points: 0, by: 'step', buckets: [] });
      continue;
    }
    const key = JSON.stringify([
      id,
      name,
      buckets,
      x,
      num(s.points),
      s.first_step,
      s.last_step,
      s.first_time,
      s.last_time,
    ]);
    let series = cache?.get(key);
    if (!series) {
      series = await seriesOf(db, id, s, buckets, x);
      cache?.set(key, series);
    }
    out.push({ id, ...series });
  }
  return out;
}

function checkBuckets(buckets: number): void {
  if (!Number.isInteger(buckets) || buckets < 1 || buckets > 100_000)
    throw new CairnError('USAGE', `buckets must be a whole number from 1 to 100000, not ${buckets}`);
}

export type BucketRow = {
  b: unknown;
  s0: unknown;
  s1: unknown;
  t0: string | null;
  t1: string | null;
  n: unknown;
  lo: unknown;
  hi: unknown;
  mean: unknown;
};

export function toBucket(r: BucketRow, stepped: boolean): SeriesBucket {
  return {
    steps: stepped ? [num(r.s0), num(r.s1)] : null,
    times: stepped ? null : [r.t0!, r.t1!],
    count: num(r.n),
    min: num(r.lo),
    max: num(r.hi),
    mean: num(r.mean),
  };
}

export interface MetricRef {
  db: ReadDb;
  runId: string;
  name: string;
}

/**
 * Aligned step ranges of 2^k steps (k from stepLevel): one stored block per bucket, read in
 * order from run_metric_blocks' primary key, about `buckets` rows however many points. Grids
 * finer or coarser than the kept levels, and metrics whose points were written around ingestion
 * (no blocks at all), are bucketed from the points with the same grid.
 */
async function bucketsBySteps(
  m: MetricRef,
  firstStep: number,
  lastStep: number,
  buckets: number,
): Promise<SeriesBucket[]> {
  const level = stepLevel(firstStep, lastStep, buckets);
  if (level >= METRIC_BLOCK_MIN_LEVEL && level <= METRIC_BLOCK_MAX_LEVEL) {
    const got = await bucketsFromBlocks(m, level);
    if (got.length) return got;
  }
  return (await bucketsFromPoints(m, level)).map((r) => toBucket(r, true));
}

/**
 * The curve's buckets as stored blocks of `level` (exported for the tests that hold it to the
 * points). Straight to buckets, no intermediate rows: for a compare of 100 curves the objects
 * made here are most of the time spent.
 */
export async function bucketsFromBlocks(m: MetricRef, level: number): Promise<SeriesBucket[]> {
  const rows = await m.db
    .selectFrom('run_metric_blocks')
    .select(['first_step', 'last_step', 'points', 'min_value', 'max_value', 'sum_value'])
    .where('run_id', '=', m.runId)
    .where('name', '=', m.name)
    .where('level', '=', level)
    .orderBy('block')
    .execute();
  const out: SeriesBucket[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const n = num(r.points);
    out[i] = {
      steps: [num(r.first_step), num(r.last_step)],
      times: null,
      count: n,
      min: num(r.min_value),
      max: num(r.max_value),
      mean: num(r.sum_value) / n,
    };
  }
  return out;
}

/** The same buckets grouped from the points (SQLite sorts them all for the GROUP BY). */
export async function bucketsFromPoints(m: MetricRef, level: number): Promise<BucketRow[]> {
  // A whole number written into the SQL (not bound): integer division on both engines, and
  // the floor, since steps are ≥ 0.
  const bucket = sql<number>`step / ${sql.lit(2 ** level)}`;
  const rows = await m.db
    .selectFrom('run_metrics')
    .select([
      bucket.as('b'),
      sql`min(step)`.as('s0'),
      sql`max(step)`.as('s1'),
      sql`count(*)`.as('n'),
      sql`min(value)`.as('lo'),
      sql`max(value)`.as('hi'),
      sql`avg(value)`.as('mean'),
    ])
    .where('run_id', '=', m.runId)
    .where('name', '=', m.name)
    .where('step', 'is not', null)
    .groupBy(sql`1`)
    .orderBy(sql`1`)
    .execute();
  return rows as BucketRow[];
}

/** No steps: rank in time order, then equal-count buckets. */
async function bucketsByTime(m: MetricRef, points: number, buckets: number) {
  const ranked = m.db
    .selectFrom('run_metrics')
    .select([
      'value',
      'time',
      sql<number>`(row_number() over (order by time) - 1) * ${sql.lit(buckets)} / ${sql.lit(points)}`.as('b'),
    ])
    .where('run_id', '=', m.runId)
    .where('name', '=', m.name)
    .as('ranked');
  const rows = await m.db
    .selectFrom(ranked)
    .select([
      'b',
      sql`null`.as('s0'),
      sql`null`.as('s1'),
      sql<string>`min(time)`.as('t0'),
      sql<string>`max(time)`.as('t1'),
      sql`count(*)`.as('n'),
      sql`min(value)`.as('lo'),
      sql`max(value)`.as('hi'),
      sql`avg(value)`.as('mean'),
    ])
    .groupBy('b')
    .orderBy('b')
    .execute();
  return rows as BucketRow[];
}
