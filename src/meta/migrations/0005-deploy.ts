import type { Kysely, Migration } from 'kysely';

/** Deployments of model versions to environments, and the webhook outbox (docs/DEPLOY.md). */
export const deploy: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('deployments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('model_id', 'text', (c) => c.notNull().references('models.id'))
      .addColumn('version_id', 'text', (c) => c.notNull().references('model_versions.id'))
      .addColumn('env', 'text', (c) => c.notNull())
      .addColumn('alias', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text')
      .addColumn('by', 'text', (c) => c.notNull())
      .addColumn('hook', 'text')
      .addColumn('health', 'text')
      .addColumn('error', 'text')
      .addColumn('previous_version_id', 'text')
      .execute();
    await db.schema
      .createIndex('deployments_env')
      .on('deployments')
      .columns(['model_id', 'env', 'started_at'])
      .execute();
    await db.schema.createIndex('deployments_started').on('deployments').columns(['started_at']).execute();
    await db.schema
      .createTable('outbox')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('deployment_id', 'text', (c) => c.notNull().references('deployments.id'))
      .addColumn('url', 'text', (c) => c.notNull())
      .addColumn('body', 'text', (c) => c.notNull())
      .addColumn('signature', 'text', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('next_attempt_at', 'text')
      .addColumn('last_error', 'text')
      .addColumn('delivered_at', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('outbox_pending').on('outbox').columns(['delivered_at', 'next_attempt_at']).execute();
  },
};
