import { closeSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Kysely } from 'kysely';
import { CairnError } from '../../core/errors.js';
import type { Database as Schema } from '../schema.js';
import { CairnSqliteDialect } from './dialect.js';

export interface SqliteHandle {
  db: Kysely<Schema>;
  /** The raw handle, for the few hot paths (audit verify scans) that bypass the query builder. */
  raw: Database.Database;
}

export function openSqlite(file: string, options: { readonly?: boolean } = {}): SqliteHandle {
  let raw: Database.Database;
  try {
    if (!options.readonly && file !== ':memory:' && file !== '') createOwnerOnly(file);
    raw = new Database(file, { fileMustExist: options.readonly === true, readonly: options.readonly === true });
  } catch (err) {
    throw new CairnError('DB_ERROR', `cannot open the metadata database ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  // WAL lets readers run beside one writer; NORMAL sync is safe with WAL (a power cut can lose
  // the last commits, never corrupt the file). busy_timeout makes a second writer wait.
  // The first pragma is also the first read of the file, so a file that is not a database
  // fails here and must be reported like any other open failure.
  try {
    raw.pragma('busy_timeout = 60000');
    if (!options.readonly) raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    raw.pragma('foreign_keys = ON');
    raw.pragma('cache_size = -65536');
  } catch (err) {
    raw.close();
    throw new CairnError('DB_ERROR', `cannot open the metadata database ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { db: new Kysely<Schema>({ dialect: new CairnSqliteDialect(raw) }), raw };
}

/**
 * Creates the database file owner-only (0600) before SQLite opens it: SQLite gives the -wal
 * and -shm files it makes later the mode of the main file, so all three stay private (they
 * hold every row, the audit log included). An existing file is left as it is.
 */
function createOwnerOnly(file: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}
