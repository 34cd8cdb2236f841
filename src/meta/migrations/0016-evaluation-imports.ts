import type { Kysely, Migration } from 'kysely';

/**
 * Evaluations that came in by pull, clone or a push to a team server (docs/REMOTES.md
 * "Evaluations"): the log whose `model.evaluate` event vouches for each (its origin, workspace and
 * index), who ran it there and who brought it here. An alias policy counts an evaluation listed
 * here only when it says so (`acceptImported`): by default it counts the evaluations this side ran.
 */
export const evaluationImports: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('evaluation_imports')
      .addColumn('evaluation_id', 'text', (c) => c.primaryKey())
      .addColumn('origin', 'text', (c) => c.notNull())
      .addColumn('workspace', 'text')
      .addColumn('event_index', 'integer', (c) => c.notNull())
      .addColumn('author', 'text', (c) => c.notNull())
      .addColumn('imported_by', 'text', (c) => c.notNull())
      .addColumn('imported_at', 'text', (c) => c.notNull())
      .execute();
  },
};
