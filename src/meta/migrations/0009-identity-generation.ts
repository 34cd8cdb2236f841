import type { Kysely, Migration } from 'kysely';

/**
 * One counter that every change to accounts, tokens and grants increments in its transaction:
 * a server keeps what it read of them while the counter stands still, and sees a change made by
 * any process (another server on the same PostgreSQL, `cairn server token revoke` on the host)
 * on its next request, at the cost of one primary-key read instead of a join and a table scan.
 */
export const identityGeneration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('identity_generation')
      .addColumn('id', 'integer', (c) => c.primaryKey())
      .addColumn('n', 'integer', (c) => c.notNull())
      .execute();
    const k = db as unknown as Kysely<{ identity_generation: { id: number; n: number } }>;
    await k.insertInto('identity_generation').values({ id: 1, n: 0 }).execute();
  },
};
