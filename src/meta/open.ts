import { Migrator, type Kysely } from 'kysely';
import { CairnError } from '../core/errors.js';
import { migrationProvider } from './migrations/index.js';
import type { Database } from './schema.js';
import { openSqlite } from './sqlite/open.js';
import type BetterSqlite3 from 'better-sqlite3';

export type MetaDialect = 'sqlite' | 'postgres';

export interface MetaStore {
  db: Kysely<Database>;
  dialect: MetaDialect;
  /** Present for SQLite: the raw handle for bulk scans. */
  sqlite?: BetterSqlite3.Database;
  /** Human description without secrets. */
  location: string;
  close(): Promise<void>;
}

/** Opens `sqlite:<file>` / a plain file path, or `postgres://…`, and brings the schema up to date. */
export async function openMetaStore(url: string): Promise<MetaStore> {
  let store: MetaStore;
  let schema: string | undefined;
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    // Loaded only when used: pg costs start-up time every SQLite command would pay.
    const { openPostgres, redact } = await import('./postgres/open.js');
    const h = await openPostgres(url);
    schema = h.schema;
    store = { db: h.db, dialect: 'postgres', location: redact(url), close: () => h.db.destroy() };
  } else {
    const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
    const h = openSqlite(file);
    store = { db: h.db, dialect: 'sqlite', sqlite: h.raw, location: file, close: () => h.db.destroy() };
  }
  try {
    await migrate(store.db, schema);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}

/**
 * `schema` (PostgreSQL): where the migration tables live. Without it Kysely looks for them in
 * every schema of the database, finds another workspace's, skips creating its own and fails
 * ("relation kysely_migration_lock does not exist") when several workspaces share a database.
 */
export async function migrate(db: Kysely<Database>, schema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider,
    ...(schema ? { migrationTableSchema: schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new CairnError(
      'DB_ERROR',
      `metadata migration ${failed} failed: ${(error as Error).message ?? String(error)}`,
      { cause: error },
    );
  }
}
