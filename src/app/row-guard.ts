import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../meta/schema.js';
import { rowSeal, sealedFields, type RowGuard, type RowSeal, type SealedTable } from '../identity/index.js';
import type { Workspace } from './workspace.js';

/**
 * The data dir's mark that this server's rows are sealed: from then on a row without a seal is
 * one somebody else wrote, never one to seal. In the data dir, not the database, so a writer of
 * the database cannot ask for her rows to be sealed by removing it.
 */
export const ROWS_SEALED_FILE = join('keys', 'rows-sealed');
/** The database's mark of the same (another server process on the database sealed them). */
export const ROWS_SEALED_ROW = 'rows-sealed';
/** The database's check value of the session key (which key file its rows are sealed with). */
export const KEY_CHECK_ROW = 'session-key-check';
/** Rows of browser_sessions that are the server's bookkeeping, not sessions. */
const NOT_SESSIONS = [KEY_CHECK_ROW, ROWS_SEALED_ROW];

/**
 * The row seal with `key`, reporting each row that fails it as `server.row.forged` (once per
 * row and process: a row somebody keeps trying is one event, not one per request).
 */
export function rowGuard(ws: Workspace, key: Buffer): RowGuard {
  const seal = rowSeal(key);
  const reported = new Set<string>();
  return {
    ...seal,
    async forged(table: SealedTable, rowKey: string) {
      const id = `${table}/${rowKey}`;
      if (reported.has(id)) return;
      if (reported.size >= 10_000) reported.clear();
      reported.add(id);
      try {
        await ws.audit.record(
          { action: 'server.row.forged', target: { type: 'row', name: id }, params: { table, key: rowKey } },
          'denied',
          `${table} row ${rowKey} does not carry the server's seal`,
        );
      } catch {
        // The refusal stands without its record; the next process (or a cleared set) reports it again.
        reported.delete(id);
      }
    },
  };
}

/**
 * Seals the rows a server from before row seals left unsealed, once: at the first start after the
 * upgrade (no mark in the data dir, none in the database, and the session key made by this very
 * start). Any other start only takes the mark.
 */
export async function sealRowsOnce(ws: Workspace, seal: RowSeal, keyMadeNow: boolean): Promise<void> {
  const file = join(ws.cairnDir, ROWS_SEALED_FILE);
  if (existsSync(file)) return;
  const db = ws.meta.db;
  const marked = await db
    .selectFrom('browser_sessions')
    .select('id_hash')
    .where('id_hash', '=', ROWS_SEALED_ROW)
    .executeTakeFirst();
  // Only the start that made the session key seals (the upgrade: rows from before seals had no
  // key to be sealed with). A data dir that came with its key (another host's copy) never does:
  // a writer of the database could delete the database's mark, plant rows, and have them sealed.
  if (!marked && keyMadeNow) {
    await db.transaction().execute(async (trx) => {
      await sealIdentityRows(trx, seal, true);
      const sessions = await trx
        .selectFrom('browser_sessions')
        .selectAll()
        .where('row_mac', 'is', null)
        .where('id_hash', 'not in', NOT_SESSIONS)
        .execute();
      for (const r of sessions)
        await trx
          .updateTable('browser_sessions')
          .set({ row_mac: seal.mac('browser_sessions', sealedFields.browser_sessions(r)) })
          .where('id_hash', '=', r.id_hash)
          .execute();
      await trx
        .insertInto('browser_sessions')
        .values({
          id_hash: ROWS_SEALED_ROW,
          principal: '',
          claims: JSON.stringify(new Date().toISOString()),
          expires_at: '9999-12-31T23:59:59.999Z',
          created_at: new Date().toISOString(),
        })
        .onConflict((oc) => oc.column('id_hash').doNothing())
        .execute();
    });
  }
  mkdirSync(join(ws.cairnDir, 'keys'), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${new Date().toISOString()}\n`, { mode: 0o600 });
}

/**
 * Seals the accounts, tokens and grants with `seal` (`onlyUnsealed`: those without a seal yet, as
 * at the upgrade to seals; otherwise all of them, as after a new key). In the caller's transaction.
 */
export async function sealIdentityRows(
  db: Kysely<Database>,
  seal: RowSeal,
  onlyUnsealed: boolean,
): Promise<{ accounts: number; tokens: number; grants: number }> {
  const accounts = await db
    .selectFrom('principals')
    .selectAll()
    .$if(onlyUnsealed, (q) => q.where('row_mac', 'is', null))
    .execute();
  for (const r of accounts)
    await db
      .updateTable('principals')
      .set({ row_mac: seal.mac('principals', sealedFields.principals(r)) })
      .where('id', '=', r.id)
      .execute();
  const tokens = await db
    .selectFrom('api_tokens')
    .selectAll()
    .$if(onlyUnsealed, (q) => q.where('row_mac', 'is', null))
    .execute();
  for (const r of tokens)
    await db
      .updateTable('api_tokens')
      .set({ row_mac: seal.mac('api_tokens', sealedFields.api_tokens(r)) })
      .where('id', '=', r.id)
      .execute();
  const grants = await db
    .selectFrom('role_grants')
    .selectAll()
    .$if(onlyUnsealed, (q) => q.where('row_mac', 'is', null))
    .execute();
  for (const r of grants)
    await db
      .updateTable('role_grants')
      .set({ row_mac: seal.mac('role_grants', sealedFields.role_grants(r)) })
      .where('subject', '=', r.subject)
      .where('project', '=', r.project)
      .execute();
  return { accounts: accounts.length, tokens: tokens.length, grants: grants.length };
}
