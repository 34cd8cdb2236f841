import { sql, type Kysely } from 'kysely';
import { migrations } from '../meta/migrations/index.js';

/**
 * The tables each migration after 0011 creates (the others only add columns to, or delete rows
 * of, a table one of these creates, which goes with it: nothing of their own to drop). Tests that replay an
 * older migration on data recorded before it must first undo every later one, in order, since
 * migrations run in name order; a new migration that is not listed here fails those tests by
 * name rather than with Kysely's "corrupted migrations".
 */
/** The columns a migration after 0011 adds to a table it did not create (dropped on undo). */
const COLUMNS_OF: Record<string, ReadonlyArray<readonly [string, string]>> = {
  '0018-row-macs': [
    ['principals', 'row_mac'],
    ['api_tokens', 'row_mac'],
    ['role_grants', 'row_mac'],
  ],
};

const TABLES_OF: Record<string, readonly string[]> = {
  '0012-server-sessions': ['upload_plans', 'browser_sessions'],
  '0014-store-locks': ['store_locks'],
  '0015-run-imports': ['run_imports'],
  '0016-evaluation-imports': ['evaluation_imports'],
  '0017-browser-session-generation': [],
  '0018-row-macs': [],
};

/** Undoes every migration after 0011-metric-blocks (newest first). */
export async function undoMigrationsAfter0011(db: Kysely<never>): Promise<void> {
  const later = Object.keys(migrations)
    .filter((n) => n > '0011-metric-blocks')
    .sort()
    .reverse();
  for (const name of later) {
    const tables = TABLES_OF[name];
    if (!tables) throw new Error(`src/test-support/undo-migrations.ts does not know how to undo ${name}: add it`);
    for (const t of tables) await sql`drop table ${sql.table(t)}`.execute(db);
    for (const [t, c] of COLUMNS_OF[name] ?? [])
      await sql`alter table ${sql.table(t)} drop column ${sql.ref(c)}`.execute(db);
    await sql`delete from kysely_migration where name = ${name}`.execute(db);
  }
}
