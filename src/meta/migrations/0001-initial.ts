import type { Kysely, Migration } from 'kysely';

// Written against Kysely's schema builder only, so the same migration runs on SQLite and
// PostgreSQL; 'bigint' is INTEGER affinity in SQLite and int8 in PostgreSQL.
export const initial: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('datasets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('dataset_versions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('dataset_id', 'text', (c) => c.notNull().references('datasets.id'))
      .addColumn('number', 'integer', (c) => c.notNull())
      .addColumn('digest', 'text', (c) => c.notNull())
      .addColumn('parent_id', 'text')
      .addColumn('message', 'text', (c) => c.notNull())
      .addColumn('author', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('file_count', 'bigint', (c) => c.notNull())
      .addColumn('total_bytes', 'bigint', (c) => c.notNull())
      .addColumn('new_bytes', 'bigint', (c) => c.notNull())
      .addColumn('stats', 'text', (c) => c.notNull())
      .addUniqueConstraint('dataset_versions_number', ['dataset_id', 'number'])
      .execute();
    await db.schema.createIndex('dataset_versions_digest').on('dataset_versions').column('digest').execute();

    await db.schema
      .createTable('dataset_tags')
      .addColumn('dataset_id', 'text', (c) => c.notNull().references('datasets.id'))
      .addColumn('tag', 'text', (c) => c.notNull())
      .addColumn('version_id', 'text', (c) => c.notNull().references('dataset_versions.id'))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('created_by', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('dataset_tags_pk', ['dataset_id', 'tag'])
      .execute();

    await db.schema
      .createTable('packs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('blob_count', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('blobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('pack_id', 'text', (c) => c.notNull().references('packs.id'))
      .addColumn('offset', 'bigint', (c) => c.notNull())
      .addColumn('length', 'bigint', (c) => c.notNull())
      .addColumn('kind', 'integer', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('blobs_pack').on('blobs').column('pack_id').execute();

    await db.schema
      .createTable('lineage_edges')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('src_type', 'text', (c) => c.notNull())
      .addColumn('src_id', 'text', (c) => c.notNull())
      .addColumn('dst_type', 'text', (c) => c.notNull())
      .addColumn('dst_id', 'text', (c) => c.notNull())
      .addColumn('relation', 'text', (c) => c.notNull())
      .addColumn('via_type', 'text')
      .addColumn('via_id', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('lineage_src').on('lineage_edges').columns(['src_type', 'src_id']).execute();
    await db.schema.createIndex('lineage_dst').on('lineage_edges').columns(['dst_type', 'dst_id']).execute();

    await db.schema
      .createTable('audit_events')
      .addColumn('idx', 'bigint', (c) => c.primaryKey())
      .addColumn('event_id', 'text', (c) => c.notNull().unique())
      .addColumn('time', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target_type', 'text', (c) => c.notNull())
      .addColumn('target_name', 'text')
      .addColumn('outcome', 'text', (c) => c.notNull())
      .addColumn('leaf_hash', 'text', (c) => c.notNull())
      .addColumn('entry', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('audit_events_time').on('audit_events').column('time').execute();
    await db.schema.createIndex('audit_events_action').on('audit_events').column('action').execute();
    await db.schema
      .createIndex('audit_events_target')
      .on('audit_events')
      .columns(['target_type', 'target_name'])
      .execute();

    await db.schema
      .createTable('audit_nodes')
      .addColumn('level', 'integer', (c) => c.notNull())
      .addColumn('idx', 'bigint', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('audit_nodes_pk', ['level', 'idx'])
      .execute();

    await db.schema
      .createTable('audit_head')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('last_leaf', 'text')
      .addColumn('frontier', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('audit_checkpoints')
      .addColumn('size', 'bigint', (c) => c.primaryKey())
      .addColumn('root', 'text', (c) => c.notNull())
      .addColumn('note', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
  },
};
