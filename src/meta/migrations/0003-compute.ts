import type { Kysely, Migration } from 'kysely';

/**
 * Training runs, their logged params and metrics, and the projects whose GPU quotas and
 * budgets govern them (docs/COMPUTE.md).
 */
export const compute: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('run_key', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('project', 'text', (c) => c.notNull())
      .addColumn('spec_digest', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('backend', 'text', (c) => c.notNull())
      .addColumn('backend_id', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('reason', 'text')
      .addColumn('exit_code', 'integer')
      .addColumn('priority', 'integer', (c) => c.notNull())
      .addColumn('gpus', 'integer', (c) => c.notNull())
      .addColumn('cpus', 'integer', (c) => c.notNull())
      .addColumn('memory_mb', 'integer', (c) => c.notNull())
      .addColumn('time_limit_s', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text')
      .addColumn('ended_at', 'text')
      .addColumn('restarts', 'integer', (c) => c.notNull())
      .addColumn('code_commit', 'text')
      .addColumn('code_dirty', 'text')
      .addColumn('env_digest', 'text')
      .addColumn('dir', 'text', (c) => c.notNull())
      .addColumn('output_version_id', 'text')
      .addColumn('reused_from', 'text')
      .addColumn('usage', 'text', (c) => c.notNull())
      .addColumn('metrics_offset', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createIndex('runs_key').on('runs').columns(['run_key', 'status']).execute();
    await db.schema.createIndex('runs_status').on('runs').columns(['status', 'project']).execute();

    await db.schema
      .createTable('run_params')
      .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('value', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('run_params_pk', ['run_id', 'name'])
      .execute();

    await db.schema
      .createTable('run_metrics')
      .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('step', 'bigint')
      .addColumn('value', 'double precision', (c) => c.notNull())
      .addColumn('time', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('run_metrics_run').on('run_metrics').columns(['run_id', 'name', 'step']).execute();

    await db.schema
      .createTable('projects')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('gpu_quota', 'integer')
      .addColumn('budget_gpu_hours', 'double precision')
      .addColumn('budget_period', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
  },
};
