import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

/**
 * Runs `fn` on one connection inside a read-only transaction, so every query it makes sees the
 * same committed state while other processes keep writing: on SQLite a deferred read
 * transaction (WAL: the snapshot is taken at the first read and held to the end); on
 * PostgreSQL REPEATABLE READ, READ ONLY. `fn` must query through the handle it is given (on
 * SQLite the raw handle of the same connection also reads inside the transaction).
 */
export async function readSnapshot<T>(
  db: Kysely<Database>,
  dialect: 'sqlite' | 'postgres',
  fn: (snap: Kysely<Database>) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (conn) => {
    await sql
      .raw(dialect === 'postgres' ? 'begin isolation level repeatable read read only' : 'begin deferred')
      .execute(conn);
    let done = false;
    try {
      const out = await fn(conn);
      done = true;
      await sql.raw('commit').execute(conn);
      return out;
    } finally {
      if (!done)
        await sql
          .raw('rollback')
          .execute(conn)
          .catch(() => {});
    }
  });
}
