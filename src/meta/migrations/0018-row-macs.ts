import type { Kysely, Migration } from 'kysely';

/** The tables whose rows a team server authorizes requests from: each row carries the server's MAC (docs/SERVER.md "secure"). */
export const ROW_MAC_TABLES = ['principals', 'api_tokens', 'role_grants', 'browser_sessions'] as const;

/**
 * A MAC per row of accounts, tokens, grants and browser sessions, keyed by the data dir's session
 * key: a writer of the database who cannot read the data dir cannot make a row the server acts
 * on. Null until the first server start after this migration seals the rows already there.
 */
export const rowMacs: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    for (const t of ROW_MAC_TABLES) await db.schema.alterTable(t).addColumn('row_mac', 'text').execute();
  },
};
