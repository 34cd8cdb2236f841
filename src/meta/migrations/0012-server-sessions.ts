import type { Kysely, Migration } from 'kysely';

/**
 * The team server's short-lived bookkeeping, kept in the metadata database rather than in one
 * process's memory (docs/SERVER.md "Restarts"): planned uploads, so a restart mid-push lets the
 * client finish (or answers 410 UPLOAD_UNKNOWN once a plan is used or expired), and browser
 * sessions, so signing in survives a restart. A session row holds the SHA-256 of the session id,
 * never the id: a reader of the database cannot act as anyone. Both expire and are swept.
 */
export const serverSessions: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('upload_plans')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('principal', 'text', (c) => c.notNull())
      .addColumn('plan', 'text', (c) => c.notNull())
      .addColumn('multipart_id', 'text')
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('upload_plans_expires').on('upload_plans').columns(['expires_at']).execute();
    await db.schema
      .createTable('browser_sessions')
      .addColumn('id_hash', 'text', (c) => c.primaryKey())
      .addColumn('principal', 'text', (c) => c.notNull())
      .addColumn('claims', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('browser_sessions_expires').on('browser_sessions').columns(['expires_at']).execute();
    await db.schema.createIndex('browser_sessions_principal').on('browser_sessions').columns(['principal']).execute();
  },
};
