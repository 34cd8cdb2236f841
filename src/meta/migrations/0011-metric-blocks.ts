import { sql, type Kysely, type Migration } from 'kysely';
import { METRIC_BLOCK_MAX_LEVEL, METRIC_BLOCK_MIN_LEVEL } from '../../core/metric-blocks.js';

/**
 * Per (run, metric, level, block): the count, step range, value range and sum of the stepped
 * points in one 2^level-aligned range of steps, kept on ingest. A curve bucketed by steps then
 * reads one row per bucket from this table's primary key instead of grouping (and so sorting)
 * every point (docs/COMPUTE.md "Metrics at scale"). Runs recorded before it get their blocks
 * here: the finest level from the points, each coarser level from the one below (half as many rows).
 */
export const metricBlocks: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('run_metric_blocks')
      .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('level', 'integer', (c) => c.notNull())
      .addColumn('block', 'bigint', (c) => c.notNull())
      .addColumn('points', 'bigint', (c) => c.notNull())
      .addColumn('first_step', 'bigint', (c) => c.notNull())
      .addColumn('last_step', 'bigint', (c) => c.notNull())
      .addColumn('min_value', 'double precision', (c) => c.notNull())
      .addColumn('max_value', 'double precision', (c) => c.notNull())
      .addColumn('sum_value', 'double precision', (c) => c.notNull())
      .addPrimaryKeyConstraint('run_metric_blocks_pk', ['run_id', 'name', 'level', 'block'])
      .execute();
    // Steps are whole numbers ≥ 0, so integer division is the floor on both engines.
    const min = METRIC_BLOCK_MIN_LEVEL;
    await sql`
      insert into run_metric_blocks (run_id, name, level, block, points, first_step, last_step, min_value, max_value, sum_value)
      select run_id, name, ${sql.lit(min)}, step / ${sql.lit(2 ** min)}, count(*), min(step), max(step), min(value), max(value), sum(value)
      from run_metrics where step is not null
      group by run_id, name, step / ${sql.lit(2 ** min)}
    `.execute(db);
    for (let level = min + 1; level <= METRIC_BLOCK_MAX_LEVEL; level++)
      await sql`
        insert into run_metric_blocks (run_id, name, level, block, points, first_step, last_step, min_value, max_value, sum_value)
        select run_id, name, ${sql.lit(level)}, block / 2, sum(points), min(first_step), max(last_step), min(min_value), max(max_value), sum(sum_value)
        from run_metric_blocks where level = ${sql.lit(level - 1)}
        group by run_id, name, block / 2
      `.execute(db);
  },
};
