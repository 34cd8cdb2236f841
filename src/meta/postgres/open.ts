import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { CairnError } from '../../core/errors.js';
import type { Database as Schema } from '../schema.js';

const INT8_OID = 20;

export interface PostgresHandle {
  db: Kysely<Schema>;
  pool: pg.Pool;
  schema: string;
}

/**
 * `postgres://user@host:port/db?schema=name`: the optional `schema` parameter selects (and
 * creates) a PostgreSQL schema, so several workspaces or test runs can share one database.
 */
export async function openPostgres(url: string): Promise<PostgresHandle> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new CairnError('CONFIG_INVALID', `invalid PostgreSQL schema name ${JSON.stringify(schema)}`);
  }
  parsed.searchParams.delete('schema');
  // int8 columns hold byte counts and audit indexes that stay far below 2^53, so plain numbers
  // are exact; a per-pool parser avoids changing the process-wide pg defaults.
  const types = {
    getTypeParser: (oid: number, format?: 'text' | 'binary') =>
      oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'),
  };
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: 4,
    types,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 10_000,
  });
  // An idle connection the database closes (a restart, a failover, an admin's terminate) is an
  // 'error' event on the pool; unhandled it would end the process. The pool drops that client and
  // the next query opens a new connection, so there is nothing else to do here.
  pool.on('error', () => {});
  // The same for a connection checked out between two queries of a transaction: its query
  // fails (the transaction rolls back) and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  } catch (err) {
    await db.destroy();
    throw new CairnError('DB_ERROR', `cannot reach PostgreSQL at ${redact(url)}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check that the server runs and the URL (user, host, port, database) is right',
    });
  }
  return { db, pool, schema };
}

export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
