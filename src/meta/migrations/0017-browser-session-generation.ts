import { sql, type Kysely, type Migration } from 'kysely';

/**
 * Browser sessions' renewals are compare-and-swap on a generation (docs/SERVER.md "Sign-in with
 * OpenID Connect"): a renewal writes only over the row it read, so of two server processes only
 * one rotated refresh token is kept. The key that sealed sign-ins in progress leaves the database
 * for the data dir (`keys/session.key`, with the refresh tokens' key): its row is deleted, so a
 * reader of the database holds no key of the server's (sign-ins in progress at the upgrade start again).
 */
export const browserSessionGeneration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .alterTable('browser_sessions')
      .addColumn('generation', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await sql`delete from browser_sessions where id_hash = 'oidc-state-seal-key'`.execute(db);
  },
};
