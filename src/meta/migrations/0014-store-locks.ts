import type { Kysely, Migration } from 'kysely';

/**
 * Locks shared by every team-server process on one metadata database (docs/SERVER.md "Several
 * server processes"): the store's import, each pack key's commit, each account's proposal and each
 * workspace's claim run under one row here at a time. A row is a lease (`expires_at`, milliseconds
 * since the epoch) its holder renews while it works, so a holder killed mid-work (kill -9, a lost
 * host) blocks the others only until its lease runs out. Rows are deleted on release.
 */
export const storeLocks: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('store_locks')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull())
      .execute();
  },
};
