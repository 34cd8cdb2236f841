import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/**
 * The database as domain code sees it: queries that read. Writes happen only inside the audited
 * write transaction (a WriteTx, which only the audit log can open), so a state change without an
 * event does not compile. The few bookkeeping writes that are not state the log vouches for
 * (leases, retry times, progress offsets) go through ports named for them.
 */
export type ReadDb = Pick<
  Kysely<Database>,
  'selectFrom' | 'selectNoFrom' | 'with' | 'withRecursive' | 'fn' | 'dynamic'
>;

/**
 * The writable handle, for bookkeeping that is not state the log vouches for: a run's backend id
 * and queue reason, metric points and their read offsets, webhook leases and retry times. Only the
 * files lint allows (eslint.config.js, `bookkeeping`) may use it; everything else is a state change
 * and goes through the audited write transaction.
 */
export type BookkeepingDb = Kysely<Database>;
