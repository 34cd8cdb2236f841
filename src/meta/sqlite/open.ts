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
    raw = new Database(file, { fileMustExist: options.readonly === true, readonly: options.readonly === true });
  } catch (err) {
    throw new CairnError('DB_ERROR', `cannot open the metadata database ${file}: ${(err as Error).message}`, { cause: err });
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
    throw new CairnError('DB_ERROR', `cannot open the metadata database ${file}: ${(err as Error).message}`, { cause: err });
  }
  return { db: new Kysely<Schema>({ dialect: new CairnSqliteDialect(raw) }), raw };
}
