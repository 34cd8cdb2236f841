import { sql, type Kysely, type Migration } from 'kysely';

/**
 * One summary row per (run, metric), kept up to date as metrics are ingested, so `run show`
 * reads a few rows however many points a run logged, and an index that answers a metric's
 * curve by itself (docs/COMPUTE.md "Metrics at scale"). Runs recorded before it get their
 * summaries from their points here.
 */
export const metricSummaries: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('run_metric_summaries')
      .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('points', 'bigint', (c) => c.notNull())
      .addColumn('min_value', 'double precision', (c) => c.notNull())
      .addColumn('max_value', 'double precision', (c) => c.notNull())
      .addColumn('first_step', 'bigint')
      .addColumn('first_time', 'text', (c) => c.notNull())
      .addColumn('last_value', 'double precision', (c) => c.notNull())
      .addColumn('last_step', 'bigint')
      .addColumn('last_time', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('run_metric_summaries_pk', ['run_id', 'name'])
      .execute();
    // Curves are bucketed by step range: with the value in the index, that is an index-only
    // range scan (without it, one table lookup per point, scattered among the other metrics).
    // The old index is a prefix of the new one.
    await db.schema.dropIndex('run_metrics_run').execute();
    await db.schema
      .createIndex('run_metrics_curve')
      .on('run_metrics')
      .columns(['run_id', 'name', 'step', 'value'])
      .execute();
    // The last point is the one with the highest step (a point without one ranks below every
    // step), then the latest time: the same order ingestion keeps.
    await sql`
      insert into run_metric_summaries (run_id, name, points, min_value, max_value, first_step, first_time, last_value, last_step, last_time)
      select a.run_id, a.name, a.points, a.min_value, a.max_value, a.first_step, a.first_time, l.value, l.step, l.time
      from (
        select run_id, name, count(*) as points, min(value) as min_value, max(value) as max_value, min(step) as first_step, min(time) as first_time
        from run_metrics group by run_id, name
      ) a
      join (
        select run_id, name, value, step, time,
               row_number() over (partition by run_id, name order by coalesce(step, -1) desc, time desc) as rn
        from run_metrics
      ) l on l.run_id = a.run_id and l.name = a.name and l.rn = 1
    `.execute(db);
  },
};
