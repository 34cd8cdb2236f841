import type { Kysely, Migration } from 'kysely';

/**
 * Runs that came in by pull or by a push to a team server (docs/REMOTES.md "Runs"): where each
 * was recorded (the origin log, its workspace and the index of the event that submitted it), who
 * ran it there, and who brought it here. The `remote.pull` / `workspace.clone` event that
 * imported it records the same, and `audit verify` reconciles this row against it.
 */
export const runImports: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('run_imports')
      .addColumn('run_id', 'text', (c) => c.primaryKey())
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('workspace', 'text')
      .addColumn('event_index', 'integer', (c) => c.notNull())
      .addColumn('author', 'text', (c) => c.notNull())
      .addColumn('imported_by', 'text', (c) => c.notNull())
      /** 1 when the origin's log vouched for the metrics and parameters logged while it ran (0: events from before it logged their digests). */
      .addColumn('record_vouched', 'integer', (c) => c.notNull())
      .addColumn('imported_at', 'text', (c) => c.notNull())
      .execute();
  },
};
