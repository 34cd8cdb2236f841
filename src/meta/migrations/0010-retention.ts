import type { Kysely, Migration } from 'kysely';

/**
 * Legal holds, retention periods and erasures of versions (docs/COMPLIANCE.md). A hold row is
 * never deleted: releasing it stamps `released_at`, so "what was held when" stays answerable.
 * An erasure row says the bytes of a version are gone on purpose; the version row itself stays,
 * because the log still names its digest.
 */
export const retention: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('version_holds')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('version_id', 'text', (c) => c.notNull().references('dataset_versions.id'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('retain_until', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addColumn('released_at', 'text')
      .addColumn('released_by', 'text')
      .addColumn('release_reason', 'text')
      .execute();
    await db.schema.createIndex('version_holds_version').on('version_holds').columns(['version_id']).execute();
    await db.schema
      .createTable('version_erasures')
      .addColumn('version_id', 'text', (c) => c.primaryKey().references('dataset_versions.id'))
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('reason', 'text', (c) => c.notNull())
      .addColumn('erased_at', 'text', (c) => c.notNull())
      .addColumn('erased_by', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('version_erasures_digest').on('version_erasures').columns(['digest']).execute();
  },
};
